"""Reading RecBole atomic files: their format, typed headers and rows, and every malformed row.

Atomic files are separated by `field_separator` (a tab) with no quoting convention: a title such
as `"Wally" the Flying Pig` is text, not a quoted field (see `verbatim.py` for RecBole's reader).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from recbole_maskgr.config import ConfigError

FEATURE_TYPES = ("token", "token_seq", "float", "float_seq")  # RecBole's FeatureType values
SEQ_TYPES = ("token_seq", "float_seq")


@dataclass
class AtomicFile:
    """One atomic file as RecBole will read it: its header and the columns it will load."""

    path: str
    names: list[str]
    types: list[str]
    loaded: set[str] = field(default_factory=set)

    def type_of(self, name: str) -> str:
        return self.types[self.names.index(name)]


@dataclass
class FileFormat:
    separator: str
    seq_separator: str
    encoding: str


def file_format(config) -> FileFormat:
    return FileFormat(
        separator=config["field_separator"] or "\t",
        seq_separator=config["seq_separator"] or " ",
        encoding=config["encoding"] or "utf-8",
    )


def atomic_path(config, suffix: str) -> str:
    return os.path.join(config["data_path"], f"{config['dataset']}.{suffix}")


def inter_paths(config) -> list[str]:
    parts = config["benchmark_filename"]
    if parts:
        return [atomic_path(config, f"{part}.inter") for part in parts]
    return [atomic_path(config, "inter")]


def skips_source(config, source: str) -> bool:
    """RecBole loads nothing from `source` when load_col is given without it."""
    return config["load_col"] is not None and source not in config["load_col"]


def loaded_columns(config, source: str, names: list[str]) -> set[str]:
    """The header columns RecBole loads from `source`, by its load_col / unload_col rules."""
    load_col, unload_col = config["load_col"], config["unload_col"]
    if skips_source(config, source):
        return set()
    if load_col is not None and load_col[source] != "*":
        return set(names) & set(load_col[source])
    return set(names) - set((unload_col or {}).get(source, []))


def example_header(fmt: FileFormat, *columns: str) -> str:
    """A header line for messages, with a tab separator shown as <TAB>."""
    shown = "<TAB>" if fmt.separator == "\t" else fmt.separator
    return "'" + shown.join(columns) + "'"


def decode_line(raw: bytes, path: str, lineno: int, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        bad = raw[err.start : err.start + 1].hex()
        raise ConfigError(
            f"'{path}' line {lineno} is not valid {encoding}: byte 0x{bad} at column {err.start + 1}. Re-save "
            f"the file as {encoding} (e.g. `iconv -f latin1 -t utf-8`), or set `encoding:` to the file's "
            "encoding in the dataset config."
        ) from err


def read_header(path: str, fmt: FileFormat, config, source: str) -> AtomicFile:
    """Parse `name:type` columns; ConfigError for what RecBole would choke on."""
    with open(path, "rb") as handle:
        raw = handle.readline()
    if not raw.strip():
        raise ConfigError(
            f"'{path}' is empty or starts with a blank line; its first line must be the header, e.g. "
            f"{example_header(fmt, 'user_id:token', 'item_id:token', 'timestamp:float')}."
        )
    text = decode_line(raw.rstrip(b"\r\n"), path, 1, fmt.encoding)
    if text.startswith("\ufeff"):
        raise ConfigError(
            f"'{path}' starts with a byte-order mark, so RecBole would read the first column as "
            f"'{text[1:].split(fmt.separator)[0]}' with an invisible prefix. Save it without BOM, or set "
            "encoding: utf-8-sig in the dataset config."
        )
    names, types = [], []
    for column in text.split(fmt.separator):
        name, colon, ftype = column.partition(":")
        if not colon or ":" in ftype or not name:
            shown = repr(column) if column else "'' (a trailing or doubled separator?)"
            raise ConfigError(
                f"'{path}' header column {shown} is not 'name:type'. RecBole needs every header column "
                f"typed, e.g. 'item_id:token', 'title:token_seq', 'price:float' (types: {', '.join(FEATURE_TYPES)}); "
                f"columns are separated by {fmt.separator!r} (field_separator)."
            )
        if ftype not in FEATURE_TYPES:
            raise ConfigError(
                f"'{path}' header column '{name}' has unknown type '{ftype}'. Use one of: "
                f"{', '.join(FEATURE_TYPES)} (e.g. '{name}:token')."
            )
        names.append(name)
        types.append(ftype)
    return AtomicFile(path, names, types, loaded_columns(config, source, names))


def has_data_rows(path: str) -> bool:
    """Whether anything but blank lines follows the header (reads up to the first such line)."""
    with open(path, "rb") as handle:
        handle.readline()
        return any(line.strip() for line in handle)


def iter_rows(atomic: AtomicFile, fmt: FileFormat):
    """(line number, cells) for every well-formed data row.

    Collects every malformed row (bad bytes, a wrong number of fields, a value that is not a
    number in a loaded float column) and raises one ConfigError naming them once the file is read.
    """
    width = len(atomic.names)
    numeric = [(index, name, atomic.types[index]) for index, name in enumerate(atomic.names)
               if atomic.types[index] in ("float", "float_seq") and name in atomic.loaded]
    problems: list[str] = []
    with open(atomic.path, "rb") as handle:
        handle.readline()
        for lineno, raw in enumerate(handle, start=2):
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue  # pandas skips blank lines too
            line = decode_line(raw, atomic.path, lineno, fmt.encoding)
            cells = line.split(fmt.separator)
            problem = row_problem(cells, width, numeric, fmt, required_numbers=atomic.path.endswith(".inter"))
            if problem:
                problems.append(f"line {lineno}: {problem}")
                continue
            yield lineno, cells
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ConfigError(
            f"'{atomic.path}' has {len(problems)} malformed row(s): {shown}. Fix or remove them: each row "
            f"holds {width} fields separated by {fmt.separator!r} (field_separator), in the header's order."
        )


def row_problem(cells: list[str], width: int, numeric, fmt: FileFormat, required_numbers: bool) -> str | None:
    """What is wrong with one row, or None. Interaction files need every number, finite (RecBole would fill a
    missing or NaN timestamp with the column mean and reorder the user's history); other files may leave one empty."""
    if len(cells) != width:
        hint = " (a value holds the separator?)" if len(cells) > width else " (a value or separator is missing)"
        return f"{len(cells)} fields, the header has {width}{hint}"
    for index, name, ftype in numeric:
        value = cells[index].strip()
        parts = value.split(fmt.seq_separator) if ftype == "float_seq" else [value]
        if not value:
            if required_numbers:
                return f"column '{name}' is empty"
            continue
        for part in parts:
            try:
                number = float(part)
            except ValueError:
                return f"column '{name}' value {cells[index]!r} is not a number"
            if required_numbers and not math.isfinite(number):  # RecBole would mean-fill it like an empty one
                return f"column '{name}' value {cells[index]!r} is not a finite number"
    return None


def require_columns(atomic: AtomicFile, required: dict[str, str]) -> None:
    """`required`: column name -> the config key that names it."""
    for column, key in required.items():
        if column and column not in atomic.names:
            raise ConfigError(
                f"'{atomic.path}' has no column '{column}' (its header has: {', '.join(atomic.names)}); "
                f"{key} is '{column}'. Rename the header column, or set {key} to the right name."
            )
