"""Shared fixtures: tiny, real-data RecBole settings that keep the suite CPU-friendly."""

import sys

import pytest

# ml-100k (shipped inside RecBole) cut to light users, with tiny models: seconds per run.
TINY = {
    "epochs": 1,
    "show_progress": False,
    "state": "WARNING",
    "user_inter_num_interval": "[5,40]",
    "MAX_ITEM_LIST_LENGTH": 8,
    "train_batch_size": 512,
    "eval_batch_size": 256,
    "hidden_size": 16,
    "inner_size": 32,
    "n_layers": 1,
    "n_heads": 1,
}


@pytest.fixture(autouse=True)
def clean_argv(monkeypatch):
    """RecBole reads --key=value from sys.argv; pytest's own flags must not leak into configs."""
    monkeypatch.setattr(sys, "argv", ["pytest"])


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in a temporary folder: RecBole writes log/, log_tensorboard/ and saved/ to the cwd."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def tiny(workdir):
    return dict(TINY, checkpoint_dir=str(workdir / "saved"))
