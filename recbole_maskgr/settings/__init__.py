"""Every setting the plugin writes or checks, declared once (`plugin.py`, `models.py`).

From the declarations come the YAML layers in properties/ and docs/settings.md (`render.py`;
regenerate with `python -m recbole_maskgr.settings`) and every single-setting check with its error
text. Rules that tie several settings together live with the model that needs them.
"""

from __future__ import annotations

from types import SimpleNamespace

from recbole_maskgr.settings.declared import EVERY_MODEL, RECBOLE_DEFAULT, SID_MODELS, Section, Setting, yaml_value
from recbole_maskgr.settings.models import MODEL_SECTIONS, RECBOLE_CHECKED
from recbole_maskgr.settings.plugin import PLUGIN_SECTIONS

SECTIONS: tuple[Section, ...] = (*PLUGIN_SECTIONS, *MODEL_SECTIONS, RECBOLE_CHECKED)
SETTINGS: dict[str, Setting] = {s.name: s for section in SECTIONS for s in section.settings}
LAYER_MODELS = SID_MODELS  # the models with a layer of their own in properties/model/


class ConfigError(ValueError):
    """A configuration problem the user can fix; the message says how."""


def sid_length(levels: int) -> int:
    """H, the tokens of one item's SID: the k-means levels plus the de-duplication digit."""
    return int(levels) + 1


def setting_value(config, name: str, model: str = "MaskGR"):
    """`config[name]`, or the declared default where the config lacks it or holds ~ (a RecBole Config
    made without the plugin's layers, e.g. one handed to the dataset hook)."""
    value = config[name] if name in config else None
    return SETTINGS[name].default_for(model) if value is None else value


def checked_values(config, model: str, names=None) -> SimpleNamespace:
    """The settings `model` reads (or `names`), each checked against its rule and cast to the type the
    code reads (int, float): the typed object the models' cross-setting rules and constructors use."""
    chosen = names if names is not None else [n for n, s in SETTINGS.items()
                                               if s.read_by(model) and s.default is not RECBOLE_DEFAULT]
    values = {}
    for name in chosen:
        setting, value = SETTINGS[name], setting_value(config, name, model)
        problem = setting.problem(value)
        if problem:
            raise ConfigError(f"{name} {problem}. Fix it in your config file or on the command line, e.g. "
                              f"--{name}={yaml_value(setting.default_for(model))}.")
        values[name] = None if value is None else setting.rule.cast(value)
    return SimpleNamespace(**values)


__all__ = ["ConfigError", "EVERY_MODEL", "LAYER_MODELS", "RECBOLE_DEFAULT", "SECTIONS", "SETTINGS", "Section",
           "Setting", "checked_values", "setting_value", "sid_length", "yaml_value"]
