"""The `sid_*` settings: read once from their home, `properties/overall.yaml`, and looked up the same
way by the early checks and the dataset hook (light: no RecBole import)."""

from __future__ import annotations

import functools

from recbole_maskgr.config import resource_dir


@functools.lru_cache(maxsize=1)
def sid_defaults() -> dict:
    """The `sid_*` defaults, for configs made without the plugin's layers (e.g. a plain RecBole
    Config handed to the dataset hook)."""
    import yaml

    with open(resource_dir("properties") / "overall.yaml", encoding="utf-8") as handle:
        return {k: v for k, v in (yaml.safe_load(handle) or {}).items() if k.startswith("sid_")}


def sid_config_value(config, key: str):
    """``config[key]``, or the plugin's default when absent/None."""
    value = config[key] if key in config else None
    return sid_defaults()[key] if value is None else value


def sid_cache_dir(config) -> str:
    """Where the SID tables are cached: `sid_cache_dir`, else `<checkpoint_dir>/sid_cache`."""
    import os

    folder = sid_config_value(config, "sid_cache_dir")
    return os.path.join(config["checkpoint_dir"] or "saved", "sid_cache") if folder is None else folder


def sid_text_fields(config) -> list[str]:
    """`sid_text_fields` as a list (a single name may be written alone)."""
    fields = sid_config_value(config, "sid_text_fields")
    return [fields] if isinstance(fields, str) else list(fields)
