"""The functions each DDP process runs (`distributed.launch` targets) for the CLI's `--nproc`.

They call `quick_start`, so they live above it: `distributed.py` is a low helper that the trainers
and the dataset hook import, and must not import `quick_start` back.
"""

from __future__ import annotations

from recbole_maskgr import quick_start


def run_model(settings: dict, model: str, dataset: str, config_files, config_dict, cmd_args, resume=None):
    """Launch target: one model, as `quick_start.run` (rank 0's result dict comes back)."""
    merged = dict(config_dict or {}, **settings)
    return quick_start.run(model, dataset, config_files, merged, cmd_args, resume=resume)


def run_leaderboard(settings: dict, models, dataset: str, config_files, config_dict, cmd_args, results_dir, command,
                    overwrite=False):
    """Launch target: a leaderboard; only rank 0 writes its table."""
    merged = dict(config_dict or {}, **settings)
    return quick_start.leaderboard(models, dataset, config_files, merged, cmd_args,
                                   results_dir=results_dir, command=command, overwrite=overwrite)
