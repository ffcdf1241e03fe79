"""The atomic files a run is about to load, checked before any work.

Headers, every malformed row (file, line, column, value; `atomic_format.py`), what SID models
need from the `.item` file, and items missing from it. Division of labour with the dataset hook
(`SIDSequentialDataset`): the hook counts items whose text fields are *all* empty and warns once;
here only what the hook cannot see is reported (an empty title beside other text, items missing
from the `.item` file, duplicated rows, bad bytes).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from recbole_maskgr.data.atomic_format import (
    SEQ_TYPES,
    AtomicFile,
    FileFormat,
    atomic_path,
    example_header,
    file_format,
    has_data_rows,
    inter_paths,
    iter_rows,
    read_header,
    require_columns,
    skips_source,
)
from recbole_maskgr.data import uses_sids
from recbole_maskgr.data.sid_settings import sid_text_fields
from recbole_maskgr.settings import ConfigError, setting_value

logger = logging.getLogger(__name__)


def validate_atomic_files(config) -> list[str]:
    """Check the `.inter`/`.item`/`.user` files RecBole is about to load; returns the logged warnings."""
    fmt = file_format(config)
    warnings: list[str] = []
    inter_files = [read_inter_header(config, path, fmt) for path in inter_paths(config)]
    user_file = read_optional_header(config, "user", fmt)
    item_header = read_optional_header(config, "item", fmt)  # None: not loaded, or no file
    if uses_sids(config):
        check_named_text_fields(config, item_header)
    text_sids = uses_sids(config) and sid_text_source(config, item_header)
    item_file = read_item_header(config, fmt, text_sids, warnings, item_header)
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
    if not has_data_rows(path):
        raise ConfigError(
            f"'{path}' has a header but no interactions. Add one row per interaction below it, in the header's "
            f"order (e.g. {example_header(fmt, 'u1', 'i1', '1')}), or point --data_path at the folder with the data."
        )
    return atomic


def read_optional_header(config, source: str, fmt: FileFormat) -> AtomicFile | None:
    path = atomic_path(config, source)
    if skips_source(config, source) or not os.path.isfile(path):
        return None
    return read_header(path, fmt, config, source)


def sid_source_of(config) -> str:
    return setting_value(config, "sid_source")


def sid_text_source(config, item_header: AtomicFile | None) -> bool:
    """Whether the SIDs need item text: `sid_source` text or both, or auto with a text field loaded
    (the dataset hook decides `auto` the same way on the loaded data)."""
    source = sid_source_of(config)
    if source != "auto":
        return source in ("text", "both")
    return item_header is not None and bool(present_text_fields(config, item_header))


def read_item_header(
    config, fmt: FileFormat, sid_model: bool, warnings: list[str], item_header: AtomicFile | None
) -> AtomicFile | None:
    """The `.item` file's header (`item_header`), if RecBole will load it; text SIDs need one with a text field."""
    path = atomic_path(config, "item")
    asked = (config["load_col"] or {}).get("item")
    if not sid_model:
        if asked and not os.path.isfile(path):
            warnings.append(f"load_col asks for item fields {asked}, but '{path}' does not exist; "
                            "item features are not loaded.")
        return item_header
    fields = sid_text_fields(config)
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
    atomic = item_header  # the file exists and is loaded (both refused above)
    require_columns(atomic, {config["ITEM_ID_FIELD"]: "ITEM_ID_FIELD"})
    if not present_text_fields(config, atomic):
        raise ConfigError(
            f"None of the configured sid_text_fields {fields} is loaded from '{path}' (its header has: "
            f"{', '.join(atomic.names)}; load_col item: {asked or 'all'}). Set "
            "`sid_text_fields` to some of these columns, or add them to load_col (item: [...])."
        )
    return atomic


def check_named_text_fields(config, item_header: AtomicFile | None) -> None:
    """`sid_text_fields` the user wrote must be columns of the .item file: a typo would otherwise drop the
    field silently, or (sid_source: auto) switch to collaborative SIDs. Defaults may list absent fields."""
    if item_header is None or "sid_text_fields" not in getattr(config, "user_settings", ()):
        return
    unknown = [f for f in sid_text_fields(config) if f not in item_header.names]
    if unknown:
        raise ConfigError(
            f"sid_text_fields names {unknown}, which '{item_header.path}' does not have (its header has: "
            f"{', '.join(item_header.names)}). Fix the names, or drop them from sid_text_fields."
        )


def present_text_fields(config, atomic: AtomicFile) -> list[str]:
    return [f for f in sid_text_fields(config) if f in atomic.loaded and f in atomic.names]


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
        item = cells[id_col]  # iter_rows yields only rows as wide as the header
        if item in first_line:
            duplicates.append((item, first_line[item], lineno))
        else:
            first_line[item] = lineno
        blank = [is_blank(cells[index], ftype, fmt) for index, ftype in columns]
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
        item = cells[id_col]
        if item not in items.ids and item not in missing:
            missing[item] = lineno
    if missing:
        item, lineno = next(iter(missing.items()))
        warnings.append(
            f"{len(missing)} item id(s) in '{atomic.path}' have no row in '{item_file.path}' (e.g. '{item}', "
            f"line {lineno}). RecBole gives them empty features, so their SID text is the fallback "
            f"'item <id>'; add rows for them to the .item file if they have text."
        )


__all__ = ["validate_atomic_files"]
