"""The training budget's clocks: wall seconds, or the process's CPU seconds (not shrunk by sleeping
or by other work on a shared machine)."""

import time

import pytest

from recbole_maskgr import quick_start
from recbole_maskgr.config import ConfigError
from recbole_maskgr.trainer.epochs import Deadline


def test_sleeping_spends_the_wall_budget_but_not_the_process_budget():
    wall, process = Deadline(0.05, "wall"), Deadline(0.05, "process")
    time.sleep(0.1)
    assert wall.passed() and not process.passed()
    end = time.process_time() + 0.1
    while time.process_time() < end:  # burn CPU
        pass
    assert process.passed()


def test_no_budget_means_no_deadline():
    assert Deadline.from_config({"train_budget_s": None, "train_budget_clock": "wall"}) is None


def test_unknown_budget_clock_is_refused_before_loading(tiny):
    with pytest.raises(ConfigError, match=r"'train_budget_clock' in config_dict must be 'wall' or 'process'.*got 'cpu'"):
        quick_start.run("SASRec", "ml-100k", config_dict=dict(tiny, train_budget_s=5, train_budget_clock="cpu"))


def test_process_budget_ends_training_cleanly(tiny):
    result = quick_start.run("SASRec", "ml-100k", config_dict=dict(tiny, epochs=50, train_budget_s=2,
                                                                     train_budget_clock="process"))
    assert 1 <= result["epochs_trained"] < 50 and result["test_result"]
