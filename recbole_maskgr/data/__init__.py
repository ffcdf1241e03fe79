"""Data side of the plugin: the RecBole dataset hook that attaches semantic IDs to items.

``from recbole_maskgr.data import SIDSequentialDataset`` loads RecBole on first access only, and so
does `uses_sids`: the atomic-file scan and the run checks ask it without importing the hook's module.
"""

from recbole_maskgr.config import get_model

__all__ = ["SIDSequentialDataset", "uses_sids"]


def __getattr__(name):
    if name == "SIDSequentialDataset":
        from .dataset import SIDSequentialDataset

        return SIDSequentialDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def uses_sids(config) -> bool:
    """Whether the model loads its data through the SID dataset hook (MaskGR, TIGER)."""
    dataset_class = getattr(get_model(config["model"]), "dataset_class", None)
    if not isinstance(dataset_class, type):
        return False
    from .dataset import SIDSequentialDataset

    return issubclass(dataset_class, SIDSequentialDataset)
