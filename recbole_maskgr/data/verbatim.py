"""Any RecBole dataset class, reading its atomic files verbatim (no quote parsing).

RecBole reads atomic files with pandas, which treats a double quote at the start of a field as
quoting: a title like `"Wally" the Flying Pig` stops the run ("'<TAB>' expected after '"'").
"""

from __future__ import annotations

import csv
import functools


class _VerbatimPandas:
    """pandas, except that read_csv takes every character literally (no quoting)."""

    def __init__(self, pandas):
        self._pandas = pandas

    def __getattr__(self, name):
        return getattr(self._pandas, name)

    def read_csv(self, *args, **kwargs):
        kwargs.setdefault("quoting", csv.QUOTE_NONE)
        return self._pandas.read_csv(*args, **kwargs)


class VerbatimAtomicFiles:
    """Mixin for a RecBole Dataset class: its `_load_feat` reads atomic files without quote parsing."""

    def _load_feat(self, filepath, source):
        from recbole.data.dataset import dataset as recbole_dataset_module

        pandas = recbole_dataset_module.pd
        recbole_dataset_module.pd = _VerbatimPandas(pandas)
        try:
            return super()._load_feat(filepath, source)
        finally:
            recbole_dataset_module.pd = pandas


@functools.lru_cache(maxsize=None)
def verbatim_dataset(dataset_class: type) -> type:
    """`dataset_class` reading its atomic files verbatim (one subclass per class, made once)."""
    if issubclass(dataset_class, VerbatimAtomicFiles):
        return dataset_class
    return type(dataset_class.__name__, (VerbatimAtomicFiles, dataset_class), {})


__all__ = ["verbatim_dataset", "VerbatimAtomicFiles"]
