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

from recbole_maskgr.compat import apply_numpy_aliases, init_device
from recbole_maskgr.metric_settings import metric_problem
from recbole_maskgr.settings import RECBOLE_DEFAULT, SETTINGS, ConfigError, yaml_value

PACKAGE_DIR = Path(__file__).resolve().parent

# Plugin models, imported lazily so that `import recbole_maskgr` stays cheap.
PLUGIN_MODELS = {
    "MaskGR": "recbole_maskgr.model.maskgr",
    "TIGER": "recbole_maskgr.model.tiger",
}


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
    known_elsewhere: frozenset[str] = frozenset(),
):
    """A RecBole Config with our layers; `cmd_args` are `--key=value` strings (never sys.argv implicitly).

    `known_elsewhere`: keys that other models of the same leaderboard read, accepted here too.
    """
    apply_numpy_aliases()
    from recbole.config import Config

    model_class = get_model(model) if isinstance(model, str) else model
    files = layer_files(model_class.__name__, dataset, config_files)
    own_layers = len(files) - len(config_files or [])
    file_keys: dict[str, dict] = {}

    class LayeredConfig(Config):
        def _load_config_files(self, file_list):
            # RecBole's loop, with each file's problems named (and its keys kept for the checks below)
            merged = {}
            for index, path in enumerate(file_list or []):
                file_keys[path] = read_config_file(path, self.yaml_loader, user_file=index >= own_layers)
                merged.update(file_keys[path])
            return merged

        def _get_final_config_dict(self):
            # every layer is read, RecBole's defaults are not applied yet: check what the user wrote
            defaults = dict(self.internal_config_dict)
            for path in files[:own_layers]:
                defaults.update(file_keys[path])
            given = {f"'{path}'": file_keys[path] for path in files[own_layers:]}
            given["config_dict"] = dict(config_dict or {})
            given["the command line"] = dict(self.cmd_config_dict)
            self.documented_keys = set(defaults) | RUNTIME_KEYS
            self.user_settings = frozenset(key for settings in given.values() for key in settings)
            check_settings(given, defaults, known_elsewhere)
            final = super()._get_final_config_dict()
            problem = metric_problem(final)  # before RecBole's own checks raise tracebacks
            if problem:
                raise ConfigError(problem)
            return final

        def _init_device(self):
            init_device(self.final_config_dict)  # RecBole's, with gloo on CPU instead of NCCL only

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


def read_config_file(path: str, loader, user_file: bool) -> dict:
    """One YAML layer as a dict; ConfigError naming the file for anything RecBole would choke on."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.load(handle.read(), Loader=loader)
    except UnicodeDecodeError as err:
        raise ConfigError(f"Config file '{path}' is not UTF-8 text ({err.reason}). Save it as UTF-8.") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(
            f"Config file '{path}' is not valid YAML{where}: {problem}. Write one `key: value` per line."
        ) from err
    if data is None:
        if user_file:
            raise ConfigError(
                f"Config file '{path}' holds no settings (it is empty or only comments). Add `key: value` "
                "lines, or leave it out of --config_files."
            )
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"Config file '{path}' must be `key: value` lines (a mapping), but it holds a {type(data).__name__}. "
            "Write one setting per line, e.g. `epochs: 10`."
        )
    return data


# Keys RecBole takes from the caller or derives itself, without a default in its YAML files.
RUNTIME_KEYS = {"nproc", "world_size", "ip", "port", "offset", "group_offset", "local_rank", "config_files",
                "model", "dataset", "data_path", "device", "single_spec", "MODEL_TYPE", "MODEL_INPUT_TYPE",
                "eval_type", "valid_neg_sample_args", "test_neg_sample_args", "is_ddp"}
@functools.lru_cache(maxsize=None)
def known_settings(model: str, dataset: str) -> frozenset[str]:
    """Every key `model` reads on `dataset` (RecBole's, ours, the model's); one Config per pair and
    process, as leaderboards ask for each model once per setting."""
    return frozenset(make_config(model, dataset).documented_keys)


def check_settings(given: dict[str, dict], defaults: dict, known_elsewhere=frozenset()) -> None:
    """Every user setting must be known (RecBole's, ours or the model's) and obey its declared rule
    (recbole_maskgr/settings); RecBole's other settings must have their default's type.

    `given`: where the user wrote settings -> those settings; `defaults`: every documented key with
    its default (RecBole's YAML files and ours).
    """
    import difflib

    known = set(defaults) | RUNTIME_KEYS | set(known_elsewhere)
    for source, settings in given.items():
        for key, value in settings.items():
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
                hint = f"Did you mean '{close[0]}'? " if close else ""
                raise ConfigError(
                    f"Unknown setting '{key}' in {source}. {hint}Settings are RecBole's, this plugin's "
                    "(properties/overall.yaml) or the model's (properties/model/<Model>.yaml); fix or remove it."
                )
            declared = SETTINGS.get(key)
            problem = declared.problem(value) if declared else type_problem(value, defaults.get(key))
            if problem:
                default = defaults.get(key)
                if default is None and declared and declared.default is not RECBOLE_DEFAULT:
                    default = declared.default  # a plugin model's setting named next to another model
                raise ConfigError(f"Setting '{key}' in {source} {problem}. Fix it, e.g. --{key}={yaml_value(default)}.")


def type_problem(value, default) -> str | None:
    """Why `value` cannot stand where `default` is expected, or None. A None default takes anything;
    a number takes a number; a list also takes one of its items (RecBole wraps it); bools stay bools."""
    if default is None or value is None:
        return None
    if isinstance(default, bool) or isinstance(value, bool):
        return None if isinstance(value, bool) and isinstance(default, bool) else f"must be {type(default).__name__}, got {value!r}"
    if isinstance(default, (int, float)):
        if not isinstance(value, (int, float)):
            return f"must be a number, got {value!r}"
        if isinstance(default, int) and isinstance(value, float) and not value.is_integer():
            return f"must be a whole number, got {value!r}"
        return None
    if isinstance(default, (list, tuple)):
        if isinstance(value, (list, tuple)) or not isinstance(value, (dict,)):
            return None
        return f"must be a list, got {value!r}"
    if isinstance(default, dict):
        return None if isinstance(value, dict) else f"must be a mapping like {default!r}, got {value!r}"
    if isinstance(default, str):  # RecBole also reads lists where its YAML writes text, e.g. '[5,inf)'
        return None if isinstance(value, (str, list, tuple)) else f"must be text, got {value!r}"
    return None
