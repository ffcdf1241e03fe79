"""RecBole's log file and TensorBoard folder, one per run.

RecBole 1.2.1 names both `<model>-<dataset>-<time>-<config md5>` with the time to the second, so two
runs of the same settings started in the same second append to one log and one TensorBoard folder.
We claim a free name first (`<time>`, `<time>-2`, ...; atomically) and hand RecBole that time.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from unittest import mock

from recbole_maskgr.files import try_claim

LOG_ROOT, TENSORBOARD_ROOT = "./log/", "log_tensorboard"


def log_path(config, stamp: str) -> str:
    """The log file RecBole's `init_logger` opens for `stamp` (its naming, recbole/utils/logger.py)."""
    config_str = "".join(str(value) for value in config.final_config_dict.values())
    md5 = hashlib.md5(config_str.encode(encoding="utf-8")).hexdigest()[:6]
    return os.path.join(LOG_ROOT, config["model"], f"{config['model']}-{config['dataset']}-{stamp}-{md5}.log")


def tensorboard_dir(path: str) -> str | None:
    """RecBole's TensorBoard folder for a log file (`get_tensorboard`); None when RecBole's cut at the
    first '.' drops the time (a dataset name with a dot), so the folder cannot be told apart anyway."""
    stem = os.path.basename(path).split(".")[0]
    return os.path.join(TENSORBOARD_ROOT, stem) if os.path.basename(path) == stem + ".log" else None


def claim_log_stamp(config, stamp: str) -> str:
    """`stamp`, or `stamp-2`, ...: the first whose log file this process creates and whose TensorBoard
    folder does not exist."""
    os.makedirs(os.path.join(LOG_ROOT, config["model"]), exist_ok=True)
    for number in itertools.count(1):
        candidate = stamp if number == 1 else f"{stamp}-{number}"
        path = log_path(config, candidate)
        board = tensorboard_dir(path)
        if not (board and os.path.exists(board)) and try_claim(path):
            return candidate
    raise AssertionError("unreachable")


def init_run_logger(config) -> str:
    """RecBole's `init_logger` on a log file of this run's own; returns the file's path."""
    import recbole.utils.logger as recbole_logger

    stamp = claim_log_stamp(config, recbole_logger.get_local_time())
    with mock.patch.object(recbole_logger, "get_local_time", lambda: stamp):
        recbole_logger.init_logger(config)
    return log_path(config, stamp)
