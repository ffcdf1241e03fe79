"""One declaration per setting: its default, the rule its values obey, a one-line meaning, and which
models read it. The YAML layers in properties/, the checks and docs/settings.md are made from these."""

from __future__ import annotations

from dataclasses import dataclass, field

from recbole_maskgr.settings.rules import Rule

EVERY_MODEL = ("every model",)
SID_MODELS = ("MaskGR", "TIGER")
RECBOLE_DEFAULT = object()  # a RecBole setting we only check: its default stays RecBole's (not in our YAML)


def yaml_value(value) -> str:
    """A value as our YAML layers and error hints write it (flow style, True/False, ~ for None)."""
    if value is None:
        return "~"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    return repr(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Setting:
    """`default` is what every model in `models` gets unless `model_defaults` names another value;
    `recbole`: RecBole defines the key (we set its default or check it)."""

    name: str
    default: object
    rule: Rule
    doc: str
    models: tuple = EVERY_MODEL
    model_defaults: dict = field(default_factory=dict)
    recbole: bool = False

    def default_for(self, model: str):
        return self.model_defaults.get(model, self.default)

    def read_by(self, model: str) -> bool:
        return self.models == EVERY_MODEL or model in self.models

    def problem(self, value) -> str | None:
        """Why `value` cannot be this setting, or None: the rule's reason, then the setting's meaning."""
        problem = self.rule.problem(value)
        return None if problem is None else f"{problem} ({self.doc})"


@dataclass(frozen=True)
class Section:
    """A group of settings, one block of a YAML layer and one table of the docs."""

    title: str
    intro: str
    settings: tuple
