"""Shims that let RecBole 1.2.1 run on numpy 2.

RecBole's ``Config.compatibility_settings`` reads ``np.float_``, ``np.complex_`` and
``np.unicode_`` (removed in numpy 2), and ray reads ``np.bool8``. We restore those four
aliases, and only when they are missing. Checkpoint loading on torch >= 2.6 is handled by
our own trainer (``recbole_maskgr.trainer.checkpoint``), which never needs pickles.
"""

import numpy as np

_NUMPY_ALIASES = {
    "float_": "float64",
    "complex_": "complex128",
    "unicode_": "str_",
    "bool8": "bool_",
}


def apply_numpy_aliases() -> None:
    """Add the removed numpy aliases RecBole still reads; idempotent."""
    for alias, target in _NUMPY_ALIASES.items():
        if not hasattr(np, alias):
            setattr(np, alias, getattr(np, target))


def quiet_recbole_chained_fillna() -> None:
    """Hide the one pandas FutureWarning RecBole 1.2.1 triggers on every run (`feat[field].fillna(...,
    inplace=True)` in its dataset module), and nothing else: other warnings stay visible."""
    import warnings

    warnings.filterwarnings(
        "ignore",
        message="A value is trying to be set on a copy of a DataFrame or Series through chained assignment "
        "using an inplace method",
        category=FutureWarning,
        module=r"recbole\.data\.dataset\.dataset",
    )
