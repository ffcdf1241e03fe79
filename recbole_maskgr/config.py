"""Configuration: our YAML layers on top of RecBole's, and model/trainer resolution.

Layers, lowest to highest: RecBole internals < ``properties/overall.yaml`` <
``properties/model/<Model>.yaml`` < ``dataset_configs/<dataset>.yaml`` < ``--config_files`` <
``config_dict`` < command line. RecBole merges its file list in order, so our three layers
simply go in front of the user's files.
"""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil
from pathlib import Path

from recbole_maskgr.compat import apply_numpy_aliases

PACKAGE_DIR = Path(__file__).resolve().parent

# Plugin models, imported lazily so that `import recbole_maskgr` stays cheap.
PLUGIN_MODELS = {
    "MaskGR": "recbole_maskgr.model.maskgr",
    "TIGER": "recbole_maskgr.model.tiger",
}


class ConfigError(ValueError):
    """A configuration problem the user can fix; the message says how."""


def resource_dir(name: str) -> Path:
    """Folder of our YAML files: inside the installed package, else the source checkout."""
    for candidate in (PACKAGE_DIR / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"recbole_maskgr cannot find its '{name}' folder next to {PACKAGE_DIR}; reinstall with `pip install .`"
    )


def available_datasets() -> list[str]:
    return sorted(p.stem for p in resource_dir("dataset_configs").glob("*.yaml"))


@functools.lru_cache(maxsize=1)
def recbole_model_names() -> dict[str, str]:
    """RecBole's own models: lower-case module name -> module path, found without importing them.

    Importing RecBole's `exlib_recommender` package needs lightgbm and xgboost, which is why
    RecBole's own `get_model` answers an unknown name with `ModuleNotFoundError: lightgbm`.
    """
    import recbole.model

    names = {}
    for sub in pkgutil.iter_modules(recbole.model.__path__):
        if not sub.ispkg or not sub.name.endswith("_recommender"):
            continue
        folder = os.path.join(recbole.model.__path__[0], sub.name)
        for module in pkgutil.iter_modules([folder]):
            names[module.name] = f"recbole.model.{sub.name}.{module.name}"
    return names


def get_model(model_name: str):
    """Model class by name: the plugin's models first, then RecBole's."""
    if model_name in PLUGIN_MODELS:
        return getattr(importlib.import_module(PLUGIN_MODELS[model_name]), model_name)
    module_path = recbole_model_names().get(model_name.lower())
    if module_path is None:
        raise ConfigError(
            f"Unknown model '{model_name}'. Plugin models: {', '.join(PLUGIN_MODELS)}; "
            "or any RecBole model by its class name (e.g. SASRec, BERT4Rec, GRU4Rec, Pop)."
        )
    try:
        module = importlib.import_module(module_path)
    except ImportError as err:
        raise ConfigError(f"Model '{model_name}' needs a package that is not installed: {err}") from err
    model_class = getattr(module, model_name, None)
    if model_class is None:
        candidates = [n for n in dir(module) if n.lower() == model_name.lower()]
        hint = f" Did you mean '{candidates[0]}'?" if candidates else ""
        raise ConfigError(f"Unknown model '{model_name}' (model names are case-sensitive).{hint}")
    return model_class


def layer_files(model_name: str, dataset: str, config_files: list[str] | None = None) -> list[str]:
    """Our YAML layers in merge order, followed by the user's files (checked to exist)."""
    props = resource_dir("properties")
    files = [props / "overall.yaml", props / "model" / f"{model_name}.yaml"]
    files.append(resource_dir("dataset_configs") / f"{dataset}.yaml")
    layers = [str(f) for f in files if f.is_file()]
    presets = resource_dir("properties") / "presets"
    for user_file in config_files or []:
        preset = presets / f"{user_file}.yaml"
        if not os.path.isfile(user_file) and preset.is_file():
            user_file = str(preset)  # a shipped preset by name, e.g. --config_files=maskgr-paper
        if not os.path.isfile(user_file):
            known = ", ".join(sorted(p.stem for p in presets.glob("*.yaml")))
            raise ConfigError(
                f"Config file not found: '{user_file}' (given in --config_files). Name a YAML file, or one "
                f"of the shipped presets: {known}."
            )
        layers.append(str(user_file))
    return layers


def make_config(
    model: str | type,
    dataset: str,
    config_files: list[str] | None = None,
    config_dict: dict | None = None,
    cmd_args: list[str] | None = None,
):
    """A RecBole Config with our layers; `cmd_args` are `--key=value` strings (never sys.argv implicitly)."""
    apply_numpy_aliases()
    from recbole.config import Config

    model_class = get_model(model) if isinstance(model, str) else model
    files = layer_files(model_class.__name__, dataset, config_files)

    class LayeredConfig(Config):
        def _load_cmd_line(self):
            # RecBole reads sys.argv here; we take only what the caller hands us.
            parsed = {}
            for arg in cmd_args or []:
                key, sep, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
                if not sep or not key:
                    raise ConfigError(f"Cannot read command-line option '{arg}': use --key=value.")
                parsed[key] = value
            return self._convert_config_dict(parsed)

    return LayeredConfig(model=model_class, dataset=dataset, config_file_list=files, config_dict=config_dict)
