"""Cheap checks of a run's settings and atomic files, before any long work starts.

RecBole reads the atomic files with pandas deep inside dataset construction and fails there with
messages like "not enough values to unpack" or a bare UnicodeDecodeError; a bad SID or decoding
setting surfaces only after the item texts were embedded. These checks read headers and scan the
files line by line (seconds even for the Amazon sets) so that a mistake is named -- what, where,
how to fix -- before SID embedding or training, and before any cache or checkpoint is written.

Division of labour with the dataset hook (`SIDSequentialDataset`): the hook counts items whose
text fields are *all* empty (they get the fallback text "item <id>") and warns once; here only
what the hook cannot see is reported (e.g. an empty title beside other text, items missing from
the `.item` file, duplicated rows, bad bytes).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import yaml

from recbole_maskgr.config import ConfigError, get_model, resource_dir
from recbole_maskgr.trainer.checkpoint import CheckpointError, safe_load

logger = logging.getLogger(__name__)

FEATURE_TYPES = ("token", "token_seq", "float", "float_seq")  # RecBole's FeatureType values
SEQ_TYPES = ("token_seq", "float_seq")


# ====================================================================== settings
def validate_inputs(config) -> list[str]:
    """Settings first (instant), then the atomic files; returns the warnings that were logged."""
    check_run_config(config)
    return validate_atomic_files(config)


def check_run_config(config) -> None:
    """ConfigError for settings that would fail (or silently mislead) only after long work."""
    check_checkpoint_interval(config)
    if not uses_sids(config):
        return
    check_sid_settings(config)
    defaults = model_defaults(config["model"])
    if "beam_width" in defaults:
        check_beam_width(config)
    if "decode_steps" in defaults:
        check_decode_steps(config)
    if {"mask_t_min", "target_mask_prob", "item_mask_prob", "clean_history_share"} & defaults:
        check_diffusion_settings(config)


def uses_sids(config) -> bool:
    """Whether the model loads its data through the SID dataset hook (MaskGR, TIGER)."""
    dataset_class = getattr(get_model(config["model"]), "dataset_class", None)
    if not isinstance(dataset_class, type):
        return False
    from recbole_maskgr.data.dataset import SIDSequentialDataset

    return issubclass(dataset_class, SIDSequentialDataset)


def model_defaults(model_name: str) -> set[str]:
    """Keys of `properties/model/<model>.yaml`: the settings this model actually reads."""
    path = resource_dir("properties") / "model" / f"{model_name}.yaml"
    if not path.is_file():
        return set()
    with open(path, encoding="utf-8") as handle:
        return set(yaml.safe_load(handle) or {})


def _integer(key: str, value, minimum: int, meaning: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{key} must be an integer >= {minimum} ({meaning}), got {value!r}. Fix it in your config "
            f"file or on the command line (--{key}=...)."
        )
    return value


def _choice(key: str, value, options: dict[str, str], example: str) -> None:
    """ConfigError unless `value` is one of `options` (name -> note shown beside it; ~ = default)."""
    if value is None or value in options:
        return
    names = " or ".join(f"'{name}'" + (f" ({note})" if note else "") for name, note in options.items())
    raise ConfigError(
        f"{key} must be {names}, got {value!r}. Fix it in your config file or on the command line "
        f"(--{key}={example})."
    )


def sid_depth(config) -> int:
    """H: tokens per item (the k-means levels plus the de-duplication digit)."""
    from recbole_maskgr.data.dataset import sid_config_value

    levels = sid_config_value(config, "sid_levels")
    return _integer("sid_levels", levels, 1, "residual k-means levels per item") + 1


def check_sid_settings(config) -> None:
    from recbole_maskgr.data.dataset import sid_config_value

    sid_depth(config)
    size = sid_config_value(config, "sid_codebook_size")
    _integer("sid_codebook_size", size, 2, "codes per level; one code cannot tell items apart")


def check_beam_width(config) -> None:
    """Same rule as the models' __init__, but before the SID table is built."""
    from recbole_maskgr.model.base import check_beam_width as beam_width_rule

    _integer("beam_width", config["beam_width"], 1, "beams kept while decoding")
    beam_width_rule(config["beam_width"], config["topk"], bool(config["rank_beyond_beams"]))


def check_decode_steps(config) -> None:
    from recbole_maskgr.model.maskgr import parse_schedule

    depth = sid_depth(config)
    value = config["decode_steps"]
    try:
        parse_schedule(value, depth)
    except (TypeError, ValueError) as err:
        example = [depth - depth // 2, depth // 2] if depth > 1 else [1]
        problem = str(err) if str(err).startswith("decode_steps") else f"decode_steps {value!r} is unreadable ({err})"
        raise ConfigError(
            f"{problem}. Each item has H = sid_levels + 1 = {depth} tokens; "
            f"set decode_steps to ~ (one token per step), an integer from 1 to {depth}, or a list of "
            f"positive integers adding up to {depth}, e.g. {example}."
        ) from err


def check_diffusion_settings(config) -> None:
    """MaskGR's objective settings: shares in range, known choices, and a layout that fits the share."""
    rules = {  # key: (test, allowed range, why)
        "mask_t_min": (lambda v: 0.0 < v < 1.0, "(0, 1)", "the smallest noise level t; the loss weighs by 1/t"),
        "target_mask_prob": (lambda v: 0.0 <= v <= 1.0, "[0, 1]", "a share of training sequences"),
        "item_mask_prob": (lambda v: 0.0 <= v <= 1.0, "[0, 1]", "a share of training sequences"),
        "clean_history_share": (lambda v: 0.0 <= v <= 1.0, "[0, 1]", "a share of training sequences"),
    }
    for key, (ok, allowed, why) in rules.items():
        value = config[key]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(float(value)):
            raise ConfigError(
                f"{key} must be a number in {allowed} ({why}), got {value!r}. Fix it in your config file "
                f"or on the command line (--{key}=...)."
            )
    layout = config["history_tokens"]
    _choice("history_tokens", layout, {"codes": "", "items": ""}, example="items")
    _choice("loss_weight", config["loss_weight"], {"inverse_t": "the paper's 1/t", "uniform": ""}, "inverse_t")
    _choice(
        "history_attention", config["history_attention"],
        {"all": "every token sees every other, the paper", "history_only": "the history sees only itself"},
        "history_only",
    )
    share = config["clean_history_share"]
    if layout == "items" and share is not None and float(share) < 1.0:
        raise ConfigError(
            f"history_tokens: items needs clean_history_share: 1 (got {share}): with one position per "
            "history item no single history token can be masked. Set --clean_history_share=1, or "
            "--history_tokens=codes for the paper's objective."
        )


def check_checkpoint_interval(config) -> None:
    value = config["checkpoint_every_steps"]
    if value is None or value == 0:
        return  # off
    _integer("checkpoint_every_steps", value, 1, "optimizer steps between mid-epoch checkpoints; ~ = off")


def check_resume_file(path: str, config) -> dict:
    """Refuse a --resume file before the dataset is built: pickles, foreign files, other model or dataset.

    The item count and SID table are compared later, once the dataset exists (`load_checkpoint`).
    """
    checkpoint = safe_load(path)
    trained = {
        "model": (checkpoint.get("config") or {}).get("model"),
        "dataset": (checkpoint.get("fingerprint") or {}).get("dataset"),
    }
    for key, saved in trained.items():
        if saved != config[key]:
            raise CheckpointError(
                f"Checkpoint '{path}' was trained with {key} {saved!r}, but this run uses {config[key]!r}. "
                f"Resume with --{key}={saved}, or train anew without --resume."
            )
    return checkpoint


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
    """(line number, cells) for every data row; ConfigError on bad bytes or too many cells."""
    width = len(atomic.names)
    with open(atomic.path, "rb") as handle:
        handle.readline()
        for lineno, raw in enumerate(handle, start=2):
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue  # pandas skips blank lines too
            line = decode_line(raw, atomic.path, lineno, fmt.encoding)
            cells = line.split(fmt.separator)
            if len(cells) > width and '"' not in line:  # pandas lets quoted cells hold separators
                raise ConfigError(
                    f"'{atomic.path}' line {lineno} has {len(cells)} fields but the header has {width}. "
                    f"A value probably contains the field separator {fmt.separator!r}: remove or replace it."
                )
            yield lineno, cells


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
    read_optional_header(config, "user", fmt)
    sid_model = uses_sids(config)
    item_file = read_item_header(config, fmt, sid_model, warnings)
    if not sid_model:
        for atomic in inter_files + ([item_file] if item_file else []):
            for _ in iter_rows(atomic, fmt):  # encoding and field counts only
                pass
    else:
        item_rows = scan_item_file(config, item_file, fmt, warnings)
        for atomic in inter_files:
            check_inter_items(config, atomic, item_file, item_rows, fmt, warnings)
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


def read_item_header(config, fmt: FileFormat, sid_model: bool, warnings: list[str]) -> AtomicFile | None:
    """The `.item` file, if RecBole will load it; SID models must have one with a text field."""
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
            f"{config['model']} needs item text, but load_col has no 'item' entry, so no .item features are "
            f"loaded. Add it, e.g. load_col: {example}."
        )
    if not os.path.isfile(path):
        raise ConfigError(
            f"{config['model']} needs item text, but '{path}' does not exist. Put a '{config['dataset']}.item' "
            f"file next to the .inter file, with a header line such as "
            f"{example_header(fmt, config['ITEM_ID_FIELD'] + ':token', fields[0] + ':token_seq')}, "
            "or train a model without SIDs."
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


__all__ = [
    "validate_inputs",
    "validate_atomic_files",
    "check_run_config",
    "check_resume_file",
]
