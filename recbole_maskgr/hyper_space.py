"""Search-space files (`run_hyper.py --params_file`) read as data, never run as code.

RecBole's `HyperTuning._build_space_from_file` passes every `choice` value to `eval()`, so a
parameter file can run any Python. Here a line is `name type values`: `choice` takes a Python
literal list (numbers, quoted text, True/False/None, nested lists), `uniform` and `loguniform`
two numbers `low,high`, `quniform` three `low,high,q`; blank lines and `#` comments are skipped.
Every malformed line is a ConfigError naming the file and line.
"""

from __future__ import annotations

import ast
import math
import os
from typing import NamedTuple

from recbole_maskgr.config import ConfigError

BOUNDS = {"uniform": ("low", "high"), "loguniform": ("low", "high"), "quniform": ("low", "high", "q")}
RANGE_EXAMPLES = {"uniform": "`dropout_prob uniform 0.1,0.5`", "quniform": "`n_layers quniform 1,4,1`",
                  "loguniform": "`learning_rate loguniform -9,-4` (bounds of the log: e^-9 to e^-4)"}
SPACE_TYPES = ("choice", *BOUNDS)
EXAMPLE = "`learning_rate choice [0.001,0.0005]` or `dropout_prob uniform 0.1,0.5`"


class SearchSetting(NamedTuple):
    name: str
    kind: str  # one of SPACE_TYPES
    values: tuple  # the choices, or the numeric bounds
    line: int


def read_space(path: str) -> dict[str, SearchSetting]:
    """Every searched setting of the file at `path`, in file order."""
    if not os.path.isfile(path):
        raise ConfigError(f"Parameter file not found: '{path}' (--params_file). Write lines like {EXAMPLE}.")
    with open(path, "rb") as handle:
        raw_lines = handle.read().splitlines()
    space: dict[str, SearchSetting] = {}
    for number, raw in enumerate(raw_lines, start=1):
        where = f"Parameter file '{path}' line {number}"
        text = _decode(raw, where).lstrip("\ufeff").strip()  # a byte-order mark is not part of a name
        if not text or text.startswith("#"):
            continue
        setting = parse_line(text, number, where)
        if setting.name in space:
            raise ConfigError(f"{where}: '{setting.name}' is already searched on line {space[setting.name].line}. "
                              "Keep one line per setting.")
        space[setting.name] = setting
    if not space:
        raise ConfigError(f"Parameter file '{path}' holds no search space (it is empty or only comments). "
                          f"Write one line per setting, e.g. {EXAMPLE}.")
    return space


def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{where} is not valid UTF-8 (byte {raw[err.start]:#x} at column {err.start + 1}). "
                          "Save the file as UTF-8.") from None


def parse_line(text: str, number: int, where: str) -> SearchSetting:
    """`name type values` -> SearchSetting; values are parsed as literals only."""
    parts = text.split(None, 2)
    if len(parts) < 3:
        raise ConfigError(f"{where}: '{text}' is not `name type values`. Write e.g. {EXAMPLE}.")
    name, kind, values = parts
    if not name.isidentifier():
        raise ConfigError(f"{where}: '{name}' is not a setting name. Write `name type values`, e.g. {EXAMPLE}.")
    if kind not in SPACE_TYPES:
        raise ConfigError(f"{where}: unknown type '{kind}'. Use one of: {', '.join(SPACE_TYPES)}.")
    parsed = _choices(values, where) if kind == "choice" else _bounds(kind, values, where)
    return SearchSetting(name, kind, parsed, number)


def _choices(text: str, where: str) -> tuple:
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        value = None
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{where}: choice values must be a non-empty list of literals (numbers, quoted text, "
                          f"True/False/None), e.g. [0.001,0.0005] or ['items','codes'], got {text.strip()!r}.")
    return tuple(value)


def _bounds(kind: str, text: str, where: str) -> tuple:
    names = BOUNDS[kind]
    shape = ",".join(names)
    pieces = [piece.strip() for piece in text.strip().strip("[]()").split(",")]
    try:
        numbers = tuple(float(piece) for piece in pieces)
    except ValueError:
        numbers = ()
    if len(numbers) != len(names) or not all(math.isfinite(n) for n in numbers):
        raise ConfigError(f"{where}: {kind} takes {len(names)} numbers `{shape}`, got {text.strip()!r}. "
                          f"Write e.g. {RANGE_EXAMPLES[kind]}.")
    if numbers[0] >= numbers[1] or (kind == "quniform" and numbers[2] <= 0):
        raise ConfigError(f"{where}: {kind} needs low < high" + (" and q > 0" if kind == "quniform" else "")
                          + f", got {text.strip()!r}.")
    return numbers


def trial_values(setting: SearchSetting) -> tuple:
    """Values a trial can give the setting, to type-check before any training (bounds for ranges;
    `loguniform` bounds are exponents)."""
    if setting.kind == "choice":
        return setting.values
    low, high = setting.values[:2]
    return (math.exp(low), math.exp(high)) if setting.kind == "loguniform" else (low, high)


def hyperopt_space(space: dict[str, SearchSetting]) -> dict:
    """The hyperopt space RecBole's HyperTuning takes as `space=`."""
    from hyperopt import hp

    build = {"choice": lambda s: hp.choice(s.name, list(s.values)),
             "uniform": lambda s: hp.uniform(s.name, *s.values),
             "quniform": lambda s: hp.quniform(s.name, *s.values),
             "loguniform": lambda s: hp.loguniform(s.name, *s.values)}
    return {name: build[setting.kind](setting) for name, setting in space.items()}
