"""Atomic files as RecBole will read them, checked before any work, and read verbatim.

RecBole's atomic files are separated by `field_separator` (a tab) with no quoting convention: a
title such as `"Wally" the Flying Pig` is text, not a quoted field. The scan below reports every
malformed row (file, line, column, value) before anything is built, and `verbatim_dataset` makes
any RecBole dataset class read the files the same way (pandas would otherwise parse quotes).
"""

from __future__ import annotations

import csv
import functools
import logging
import os
from dataclasses import dataclass, field

from recbole_maskgr.config import ConfigError
from recbole_maskgr.data.checks import uses_sids

logger = logging.getLogger(__name__)

FEATURE_TYPES = ("token", "token_seq", "float", "float_seq")  # RecBole's FeatureType values
SEQ_TYPES = ("token_seq", "float_seq")


# ====================================================================== atomic files
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
    """What is wrong with one row, or None. Interaction files need every number (RecBole would fill a
    missing timestamp with the column mean and reorder the user's history); other files may leave one empty."""
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
                float(part)
            except ValueError:
                return f"column '{name}' value {cells[index]!r} is not a number"
    return None


def require_columns(atomic: AtomicFile, required: dict[str, str]) -> None:
    """`required`: column name -> the config key that names it."""
    for column, key in required.items():
        if column and column not in atomic.names:
            raise ConfigError(
                f"'{atomic.path}' has no column '{column}' (its header has: {', '.join(atomic.names)}); "
                f"{key} is '{column}'. Rename the header column, or set {key} to the right name."
            )


def validate_atomic_files(config) -> list[str]:
    """Check the `.inter`/`.item`/`.user` files RecBole is about to load; returns the logged warnings."""
    fmt = file_format(config)
    warnings: list[str] = []
    inter_files = [read_inter_header(config, path, fmt) for path in inter_paths(config)]
    user_file = read_optional_header(config, "user", fmt)
    text_sids = uses_sids(config) and sid_text_source(config, fmt)
    item_file = read_item_header(config, fmt, text_sids, warnings)
    plain_files = [user_file] if user_file else []
    if not text_sids:
        plain_files += inter_files + ([item_file] if item_file else [])
    else:
        item_rows = scan_item_file(config, item_file, fmt, warnings)
        for atomic in inter_files:
            check_inter_items(config, atomic, item_file, item_rows, fmt, warnings)
    for atomic in plain_files:
        for _ in iter_rows(atomic, fmt):  # bytes, field counts and numbers only
            pass
    for message in warnings:
        logger.warning(message)
    return warnings


def read_inter_header(config, path: str, fmt: FileFormat) -> AtomicFile:
    if not os.path.isfile(path):
        raise ConfigError(f"Interaction file '{path}' not found. Put RecBole atomic files in '{config['data_path']}'.")
    atomic = read_header(path, fmt, config, "inter")
    require_columns(atomic, {config["USER_ID_FIELD"]: "USER_ID_FIELD", config["ITEM_ID_FIELD"]: "ITEM_ID_FIELD"})
    return atomic


def read_optional_header(config, source: str, fmt: FileFormat) -> AtomicFile | None:
    path = atomic_path(config, source)
    if skips_source(config, source) or not os.path.isfile(path):
        return None
    return read_header(path, fmt, config, source)


def sid_source_of(config) -> str:
    from recbole_maskgr.data.dataset import sid_config_value

    return sid_config_value(config, "sid_source")


def sid_text_source(config, fmt: FileFormat) -> bool:
    """Whether the SIDs need item text: `sid_source` text or both, or auto with a text field loaded
    (the dataset hook decides `auto` the same way on the loaded data)."""
    source = sid_source_of(config)
    if source != "auto":
        return source in ("text", "both")
    path = atomic_path(config, "item")
    if skips_source(config, "item") or not os.path.isfile(path):
        return False
    return bool(present_text_fields(config, read_header(path, fmt, config, "item")))


def read_item_header(config, fmt: FileFormat, sid_model: bool, warnings: list[str]) -> AtomicFile | None:
    """The `.item` file, if RecBole will load it; text SIDs need one with a text field."""
    path = atomic_path(config, "item")
    asked = (config["load_col"] or {}).get("item")
    if not sid_model:
        if asked and not os.path.isfile(path):
            warnings.append(f"load_col asks for item fields {asked}, but '{path}' does not exist; "
                            "item features are not loaded.")
        return read_optional_header(config, "item", fmt)
    fields = text_fields(config)
    example = {"inter": ["user_id", "item_id", "timestamp"], "item": [config["ITEM_ID_FIELD"], *fields]}
    if skips_source(config, "item"):
        raise ConfigError(
            f"{config['model']} needs item text (sid_source: {sid_source_of(config)}), but load_col has no 'item' "
            f"entry, so no .item features are loaded. Add it, e.g. load_col: {example}, or set "
            "sid_source: collaborative (SIDs from the training interactions)."
        )
    if not os.path.isfile(path):
        raise ConfigError(
            f"{config['model']} needs item text (sid_source: {sid_source_of(config)}), but '{path}' does not "
            f"exist. Put a '{config['dataset']}.item' "
            f"file next to the .inter file, with a header line such as "
            f"{example_header(fmt, config['ITEM_ID_FIELD'] + ':token', fields[0] + ':token_seq')}, "
            "or set sid_source: collaborative (SIDs from the training interactions)."
        )
    atomic = read_header(path, fmt, config, "item")
    require_columns(atomic, {config["ITEM_ID_FIELD"]: "ITEM_ID_FIELD"})
    if not present_text_fields(config, atomic):
        raise ConfigError(
            f"None of the configured sid_text_fields {fields} is loaded from '{path}' (its header has: "
            f"{', '.join(atomic.names)}; load_col item: {asked or 'all'}). Set "
            "`sid_text_fields` to some of these columns, or add them to load_col (item: [...])."
        )
    return atomic


def text_fields(config) -> list[str]:
    from recbole_maskgr.data.dataset import sid_config_value

    fields = sid_config_value(config, "sid_text_fields")
    return [fields] if isinstance(fields, str) else list(fields)


def present_text_fields(config, atomic: AtomicFile) -> list[str]:
    return [f for f in text_fields(config) if f in atomic.loaded and f in atomic.names]


def is_blank(value: str, ftype: str, fmt: FileFormat) -> bool:
    """An empty cell as the hook sees it: only whitespace (or only separators in a sequence)."""
    if ftype in SEQ_TYPES:
        return not any(part.strip() for part in value.split(fmt.seq_separator))
    return not value.strip()


@dataclass
class ItemScan:
    ids: set[str]
    rows: int


def scan_item_file(config, atomic: AtomicFile, fmt: FileFormat, warnings: list[str]) -> ItemScan:
    """Duplicate ids (error) and empty titles beside other text (warning)."""
    id_col = atomic.names.index(config["ITEM_ID_FIELD"])
    fields = present_text_fields(config, atomic)
    columns = [(atomic.names.index(f), atomic.type_of(f)) for f in fields]
    first_line: dict[str, int] = {}
    duplicates: list[tuple[str, int, int]] = []
    untitled: list[tuple[str, int]] = []
    rows = 0
    for lineno, cells in iter_rows(atomic, fmt):
        rows += 1
        item = cells[id_col] if id_col < len(cells) else ""
        if item in first_line:
            duplicates.append((item, first_line[item], lineno))
        else:
            first_line[item] = lineno
        blank = [index >= len(cells) or is_blank(cells[index], ftype, fmt) for index, ftype in columns]
        if blank[0] and not all(blank):  # all blank: the hook's fallback warning covers it
            untitled.append((item, lineno))
    if duplicates:
        item, first, again = duplicates[0]
        raise ConfigError(
            f"'{atomic.path}' lists item id '{item}' more than once (lines {first} and {again}); "
            f"{len(duplicates)} duplicate row(s) in all. RecBole needs one row per item: remove or merge them."
        )
    if untitled:
        item, lineno = untitled[0]
        warnings.append(
            f"'{atomic.path}': {len(untitled)} of {rows} items have an empty or whitespace-only '{fields[0]}' "
            f"(e.g. item '{item}', line {lineno}); their SID text comes from {fields[1:]} only."
        )
    return ItemScan(set(first_line), rows)


def check_inter_items(config, atomic: AtomicFile, item_file: AtomicFile, items: ItemScan, fmt, warnings) -> None:
    """Warn about interacted items that have no `.item` row (they get the fallback text)."""
    id_col = atomic.names.index(config["ITEM_ID_FIELD"])
    missing: dict[str, int] = {}
    for lineno, cells in iter_rows(atomic, fmt):
        item = cells[id_col] if id_col < len(cells) else ""
        if item not in items.ids and item not in missing:
            missing[item] = lineno
    if missing:
        item, lineno = next(iter(missing.items()))
        warnings.append(
            f"{len(missing)} item id(s) in '{atomic.path}' have no row in '{item_file.path}' (e.g. '{item}', "
            f"line {lineno}). RecBole gives them empty features, so their SID text is the fallback "
            f"'item <id>'; add rows for them to the .item file if they have text."
        )


class _VerbatimPandas:
    """pandas, except that read_csv takes every character literally (no quoting)."""

    def __init__(self, pandas):
        self._pandas = pandas

    def __getattr__(self, name):
        return getattr(self._pandas, name)

    def read_csv(self, *args, **kwargs):
        kwargs.setdefault("quoting", csv.QUOTE_NONE)
        return self._pandas.read_csv(*args, **kwargs)


class VerbatimAtomicFiles:
    """Mixin for a RecBole Dataset class: its `_load_feat` reads atomic files without quote parsing."""

    def _load_feat(self, filepath, source):
        from recbole.data.dataset import dataset as recbole_dataset_module

        pandas = recbole_dataset_module.pd
        recbole_dataset_module.pd = _VerbatimPandas(pandas)
        try:
            return super()._load_feat(filepath, source)
        finally:
            recbole_dataset_module.pd = pandas


@functools.lru_cache(maxsize=None)
def verbatim_dataset(dataset_class: type) -> type:
    """`dataset_class` reading its atomic files verbatim (one subclass per class, made once)."""
    if issubclass(dataset_class, VerbatimAtomicFiles):
        return dataset_class
    return type(dataset_class.__name__, (VerbatimAtomicFiles, dataset_class), {})


__all__ = ["validate_atomic_files", "verbatim_dataset", "VerbatimAtomicFiles"]
