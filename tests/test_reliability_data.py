"""Reliability III (data side): non-finite timestamps, forged SID caches, failing writes, checkpoints
that name other folders, and the messages for data that leaves nothing to train on."""

import pytest

from recbole_maskgr import quick_start
from recbole_maskgr.config import ConfigError

from test_reliability import INTER, replace, toy_config, write_toy


# ====================================================================== non-finite timestamps
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "Infinity"])
def test_non_finite_timestamps_are_refused_like_empty_ones(workdir, value):
    write_toy(workdir, inter=replace(INTER, 4, f"u1\ti4\t{value}"))
    with pytest.raises(ConfigError, match=rf"toy.inter' has 1 malformed row\(s\): line 5: column 'timestamp' "
                                          rf"value '{value}' is not a finite number"):
        quick_start.create_dataset(toy_config(workdir))
    assert not (workdir / "sid").exists()
