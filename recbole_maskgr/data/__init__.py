"""Data side of the plugin: the RecBole dataset hook that attaches semantic IDs to items.

``from recbole_maskgr.data import SIDSequentialDataset`` loads RecBole on first access only.
"""

__all__ = ["SIDSequentialDataset"]


def __getattr__(name):
    if name == "SIDSequentialDataset":
        from .dataset import SIDSequentialDataset

        return SIDSequentialDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
