"""The `sid_*` settings, looked up the same way by the early checks and the dataset hook (light: no
RecBole import); their defaults are declared in recbole_maskgr/settings/plugin.py."""

from __future__ import annotations

from recbole_maskgr.settings import setting_value


def sid_cache_dir(config) -> str:
    """Where the SID tables are cached: `sid_cache_dir`, else `<checkpoint_dir>/sid_cache`."""
    import os

    folder = setting_value(config, "sid_cache_dir")
    return os.path.join(config["checkpoint_dir"] or "saved", "sid_cache") if folder is None else folder


def sid_text_fields(config) -> list[str]:
    """`sid_text_fields` as a list (a single name may be written alone)."""
    fields = setting_value(config, "sid_text_fields")
    return [fields] if isinstance(fields, str) else list(fields)
