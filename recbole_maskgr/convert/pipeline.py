"""Amazon reviews and metadata -> NAME.inter and NAME.item: read, drop duplicates, k-core, order,
write. Everything is checked and read before anything is written."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from recbole_maskgr.convert import amazon
from recbole_maskgr.convert.atomic_out import format_float, output_paths, refuse_overwrite, safe_text, write_files
from recbole_maskgr.convert.interactions import first_occurrences, k_core, time_order
from recbole_maskgr.convert.rawfile import ConvertError, check_readable

INTER_HEADER = ["user_id:token", "item_id:token", "timestamp:float", "rating:float"]
ITEM_COLUMNS = {"title": "token_seq", "categories": "token_seq", "brand": "token", "price": "float"}


@dataclass
class Options:
    reviews: str
    out: str
    meta: str | None = None
    kcore: int | None = None
    window: amazon.TimeWindow = field(default_factory=amazon.TimeWindow)
    overwrite: bool = False


@dataclass
class Counts:
    """What the report prints; also returned for tests and scripts."""

    format: str = ""
    read: int = 0
    outside_time: int = 0
    duplicates: int = 0
    below_kcore: int = 0
    tied: int = 0
    users: int = 0
    items: int = 0
    interactions: int = 0
    without_meta: int | None = None  # None: no --meta given
    without_title: int = 0
    paths: list = field(default_factory=list)


def kept_rows(reviews, kcore, counts: Counts):
    """Row indices to write, in output order, with their tie-break fractions."""
    user, item, time = reviews.column("user"), reviews.column("item"), reviews.column("time")
    keep = first_occurrences(user, item, time)
    counts.duplicates = len(user) - int(keep.sum())
    if kcore:
        cored = k_core(user, item, keep, kcore)
        counts.below_kcore = int(keep.sum() - cored.sum())
        keep = cored
    rows = np.flatnonzero(keep)
    order = time_order(user[rows], time[rows])
    counts.tied = order.tied
    counts.users, counts.items = len(np.unique(user[rows])), len(np.unique(item[rows]))
    counts.interactions = len(rows)
    return rows[order.rows], order.fraction


def inter_rows(reviews, rows, fraction, units_per_second: int):
    users, items = reviews.tokens("user"), reviews.tokens("item")
    user, item = reviews.column("user"), reviews.column("item")
    time, rating = reviews.column("time"), reviews.column("rating")
    for row, share in zip(rows.tolist(), fraction.tolist()):
        seconds = (time[row] + share) / units_per_second
        yield (safe_text(users[user[row]]), safe_text(items[item[row]]), format_float(seconds),
               format_float(float(rating[row])))


def item_table(item_tokens: list, meta: dict, counts: Counts):
    """(header, rows) of NAME.item: item_id, title, and the other columns some item has a value in."""
    rows = [(token, meta.get(token, amazon.ItemMeta())) for token in item_tokens]
    counts.without_meta = sum(token not in meta for token in item_tokens)
    counts.without_title = sum(token in meta and not m.title.strip() for token, m in rows)
    columns = ["title"] + [name for name in ("categories", "brand", "price")
                           if any(_has_value(getattr(m, name)) for _, m in rows)]
    header = ["item_id:token"] + [f"{name}:{ITEM_COLUMNS[name]}" for name in columns]
    cells = [[safe_text(token)] + [_cell(getattr(m, name)) for name in columns] for token, m in rows]
    return header, cells


def _has_value(value) -> bool:
    return not (isinstance(value, float) and math.isnan(value)) and value != ""


def _cell(value) -> str:
    return format_float(value) if isinstance(value, float) else safe_text(value)


def checked(options: Options):
    """(release, .inter path, .item path), after every check that needs no full read."""
    check_readable(options.reviews, "--reviews")
    if options.meta:
        check_readable(options.meta, "--meta")
    if options.kcore is not None and options.kcore < 1:
        raise ConvertError(f"--kcore must be a whole number >= 1, got {options.kcore}.")
    inter_path, item_path = output_paths(options.out)
    refuse_overwrite([inter_path, item_path], options.overwrite)
    fmt = amazon.detect_reviews(options.reviews)
    if options.meta:
        amazon.check_meta(options.meta, fmt)
    return fmt, inter_path, item_path


def kept_items(reviews, rows) -> list:
    """Raw ids of the items in `rows`, in order of first appearance in the file (as ids were numbered)."""
    tokens = reviews.tokens("item")
    return [tokens[i] for i in np.unique(reviews.column("item")[rows]).tolist()]


def convert(options: Options) -> Counts:
    """Check the inputs and the output paths, read everything, then write both files atomically."""
    fmt, inter_path, item_path = checked(options)
    counts = Counts(format=fmt.name)
    reviews, counts.read, counts.outside_time = amazon.read_reviews(options.reviews, fmt, options.window)
    if not len(reviews):
        raise ConvertError(f"No review of '{options.reviews}' is inside --min_time/--max_time; nothing to write.")
    rows, fraction = kept_rows(reviews, options.kcore, counts)
    if not len(rows):
        raise ConvertError(f"--kcore {options.kcore} leaves no interactions; lower it.")
    tables = {inter_path: (INTER_HEADER, inter_rows(reviews, rows, fraction, fmt.units_per_second))}
    if options.meta:
        items = kept_items(reviews, rows)
        tables[item_path] = item_table(items, amazon.read_meta(options.meta, fmt, set(items)), counts)
    write_files(tables)
    if not options.meta and os.path.exists(item_path):  # --overwrite: an old .item would not match
        os.remove(item_path)
    counts.paths = list(tables)
    return counts


def report(counts: Counts) -> str:
    """The counts, as printed by the command line."""
    lines = [
        f"{counts.format} reviews read: {counts.read:,}",
        f"dropped: {counts.outside_time:,} outside --min_time/--max_time, {counts.duplicates:,} exact duplicate(s) "
        f"(user, item, time), {counts.below_kcore:,} by --kcore",
        f"same-time reviews of a user kept in file order: {counts.tied:,}",
        f"kept: {counts.users:,} users, {counts.items:,} items, {counts.interactions:,} interactions",
    ]
    if counts.without_meta is not None:
        lines.append(f"items without metadata (empty title): {counts.without_meta:,}; with metadata but no title: "
                     f"{counts.without_title:,}")
    lines += [f"wrote {path}" for path in counts.paths]
    return "\n".join(lines)
