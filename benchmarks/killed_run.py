"""`run_recbole_maskgr.py` in a child process that can be killed with SIGKILL once a mid-epoch
checkpoint is on disk, and resumed: shared by the kill -9 test (tests/test_reliability.py) and
`benchmarks/checkpoint_roundtrip.py --kill-at-step`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from recbole_maskgr.trainer.checkpoint import CheckpointError, safe_load

REPO = Path(__file__).resolve().parents[1]

# Runs the command line, and writes the final result's metrics and best checkpoint to argv[1].
DRIVER = """
import json, sys, torch
torch.set_num_threads(1)
import run_recbole_maskgr as cli
from recbole_maskgr import quick_start
out, original = sys.argv[1], quick_start.run
def run(*args, **kwargs):
    result = original(*args, **kwargs)
    with open(out, "w") as handle:
        json.dump({"valid": {k: float(v) for k, v in result["best_valid_result"].items()},
                   "test": {k: float(v) for k, v in result["test_result"].items()},
                   "best": result["saved_model_file"]}, handle)
    return result
quick_start.run = run
sys.exit(cli.main(sys.argv[2:]))
"""


def start_cli(folder: Path, settings: dict, *extra_args: str, model: str = "MaskGR",
              dataset: str = "ml-100k") -> subprocess.Popen:
    """`run_recbole_maskgr.py` in a child process, one thread: its result goes to folder/result.json,
    its log to folder/stderr.txt (a file: a pipe nobody reads during a long run would fill up)."""
    config_file = folder / "settings.yaml"
    config_file.write_text(yaml.safe_dump(settings))
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO))
    argv = [f"--model={model}", f"--dataset={dataset}", f"--config_files={config_file}", *extra_args]
    with open(folder / "stderr.txt", "w") as log:
        return subprocess.Popen([sys.executable, "-c", DRIVER, str(folder / "result.json"), *argv],
                                cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=log)


def log_tail(folder: Path) -> str:
    return (folder / "stderr.txt").read_text()[-3000:]


def finish(process: subprocess.Popen, folder: Path, timeout: float = 300) -> dict:
    process.wait(timeout=timeout)
    assert process.returncode == 0, log_tail(folder)
    return json.loads((folder / "result.json").read_text())


def wait_until_training(process: subprocess.Popen, folder: Path) -> None:
    """Until the run has claimed its checkpoint name (under folder/saved): its data and SID table are
    built and cached then, so a run started next reads them instead of building them alongside."""
    while not any((folder / "saved").glob("*.pth")):
        if process.poll() is not None:
            raise AssertionError(f"run ended (rc {process.returncode}) before training: {log_tail(folder)}")
        time.sleep(1)


def kill_after_mid_epoch_checkpoint(process: subprocess.Popen, folder: Path, min_steps: int,
                                    timeout: float = 240) -> dict:
    """SIGKILL the run once its last checkpoint (under folder/saved) was written mid-epoch after at
    least `min_steps` optimizer steps; returns that checkpoint's position."""
    deadline, read = time.monotonic() + timeout, {}
    while time.monotonic() < deadline and process.poll() is None:
        for path in (folder / "saved").glob("*-last.pth"):
            written = path.stat().st_mtime_ns
            if read.get(path) == written:  # each version once: a large model's file takes a while to read
                continue
            read[path] = written
            try:
                position = safe_load(str(path))["position"]
            except CheckpointError:  # not written yet
                continue
            if position["batches_done"] > 0 and position["train_steps"] >= min_steps:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return position
        time.sleep(0.02)
    raise AssertionError(f"run ended (rc {process.poll()}) before a mid-epoch checkpoint: {log_tail(folder)}")
