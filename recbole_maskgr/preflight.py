"""The checks a run makes before long work, as one list for `quick_start` and the DDP launcher.

The list gathers checks from data/ (settings, atomic files) and trainer/checkpoint.py (the `--resume`
file), so it sits above both in a module of its own: those need not import each other, nor anything
higher, to run it.
"""

from __future__ import annotations

import os

from recbole_maskgr.compat import quiet_recbole_warnings
from recbole_maskgr.config import get_model
from recbole_maskgr.data import uses_sids
from recbole_maskgr.data.atomic_files import validate_atomic_files
from recbole_maskgr.data.checks import check_sid_settings
from recbole_maskgr.data.sid_settings import sid_cache_dir
from recbole_maskgr.files import output_dir
from recbole_maskgr.settings import ConfigError, checked_values
from recbole_maskgr.trainer.checkpoint import check_resume_file


def check_inputs(config, resume: str | None = None) -> None:
    """Every check a run makes before long work: paths, settings, atomic files, the `--resume` file.
    The DDP launcher runs it before any worker starts, so a bad input is one line, not N tracebacks."""
    check_run_paths(config)
    check_dataset_files(config)
    validate_inputs(config)  # settings and atomic files, before SID embedding or training
    if resume:
        check_resume_file(resume, config)


def validate_inputs(config) -> list[str]:
    """Settings first (instant), then the atomic files; returns the warnings that were logged."""
    check_run_config(config)
    return validate_atomic_files(config)


def check_run_config(config) -> None:
    """ConfigError for settings that would fail (or silently mislead) only after long work."""
    checked_values(config, str(config["model"]), ["checkpoint_every_steps", "train_budget_clock", "train_budget_s"])
    if not uses_sids(config):
        return
    check_sid_settings(config)
    get_model(config["model"]).check_config(config)  # the model's own rules, also run by its __init__


class DatasetNotFoundError(ConfigError):
    """The dataset's atomic files are not where RecBole will look."""


def check_dataset_name(name: str) -> None:
    """A dataset is a folder name under data_path; a path would also land in log and checkpoint names."""
    if name in ("", ".", "..") or any(sep in name for sep in {"/", os.sep, os.altsep} - {None}):
        parent, base = os.path.split(os.path.normpath(name))
        raise ConfigError(f"--dataset '{name}' must be a folder name, not a path. Name the folder in --dataset and "
                          f"its parent in --data_path, e.g. --data_path={parent or '.'} --dataset={base or 'ml-100k'}.")


def check_run_paths(config) -> list[str]:
    """Before the log file opens: the dataset name, and the folders this run writes (returned)."""
    quiet_recbole_warnings()
    check_dataset_name(str(config["dataset"]))
    folders = [output_dir(config["checkpoint_dir"], "checkpoint_dir")]
    if uses_sids(config):
        folders.append(output_dir(sid_cache_dir(config), "sid_cache_dir"))
    return folders


def check_dataset_files(config) -> None:
    """Fail early and clearly instead of RecBole's download attempt (which breaks offline)."""
    folder, name = config["data_path"], config["dataset"]
    inter = os.path.join(folder, f"{name}.inter")
    if os.path.isfile(inter):
        return
    wants_items = bool((config["load_col"] or {}).get("item")) if isinstance(config["load_col"], dict) else False
    needed = f"{name}.inter" + (f" and {name}.item" if wants_items else "")
    convert = ""
    if name.startswith("amazon"):  # the raw review files are what users have
        convert = (f" From raw Amazon review files: python -m recbole_maskgr.convert amazon --reviews FILE "
                   f"--meta FILE --out {folder} (README, Datasets).")
    raise DatasetNotFoundError(
        f"Dataset '{name}' not found: expected {inter}. Put RecBole atomic files ({needed}) in "
        f"'{folder}', or point --data_path at the folder that contains '{name}/'.{convert}"
    )
