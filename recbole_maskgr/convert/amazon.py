"""Amazon review data, 2014 (McAuley et al.) and 2023 (Hou et al.) releases: which one a file is,
and its reviews and item metadata as plain values.

2014: reviews are JSON lines (reviewerID, asin, unixReviewTime in seconds, overall); metadata is
one Python dict literal per line (single quotes, so json.loads fails; read with ast.literal_eval).
2023: JSON lines; reviews have user_id, parent_asin, timestamp in milliseconds, rating; metadata
has parent_asin, title, categories, store, price.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from recbole_maskgr.convert.interactions import Reviews
from recbole_maskgr.convert.rawfile import ConvertError, first_record, iter_lines, parse_record


@dataclass(frozen=True)
class AmazonFormat:
    name: str
    user: str
    item: str
    time: str
    rating: str
    units_per_second: int  # of `time`
    brand: str  # the metadata field written as `brand`

    @property
    def review_keys(self) -> tuple:
        return self.user, self.item, self.time, self.rating


AMAZON_2014 = AmazonFormat("Amazon 2014", "reviewerID", "asin", "unixReviewTime", "overall", 1, "brand")
AMAZON_2023 = AmazonFormat("Amazon 2023", "user_id", "parent_asin", "timestamp", "rating", 1000, "store")
FORMATS = (AMAZON_2014, AMAZON_2023)


def _keys_shown(record: dict) -> str:
    return ", ".join(list(record)[:8]) or "none"


def detect_reviews(path: str) -> AmazonFormat:
    """The release a reviews file comes from, told by the fields of its first record."""
    record = first_record(path)
    for fmt in FORMATS:
        if all(key in record for key in fmt.review_keys):
            return fmt
    wanted = "; ".join(f"{fmt.name}: {', '.join(fmt.review_keys)}" for fmt in FORMATS)
    raise ConvertError(
        f"'{path}' is not an Amazon reviews file: its first record has the fields {_keys_shown(record)}, "
        f"but reviews have {wanted}. (Did you swap --reviews and --meta?)"
    )


def check_meta(path: str, fmt: AmazonFormat) -> None:
    """The metadata file must be of the reviews' release: items are keyed by asin in 2014, parent_asin in 2023."""
    record = first_record(path)
    if fmt.item in record:
        return
    other = [f.name for f in FORMATS if f is not fmt and f.item in record]
    found = f"it looks like {other[0]} metadata" if other else f"its first record has {_keys_shown(record)}"
    raise ConvertError(
        f"'{path}' is not {fmt.name} metadata (items keyed by '{fmt.item}'), as the reviews are: {found}. "
        "Give the metadata file of the same release and category."
    )


def _number(record: dict, key: str, path: str, lineno: int) -> float:
    value = record[key]
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise ConvertError(f"'{path}' line {lineno}: '{key}' is {value!r}, not a number.")
    return number


def review_values(record: dict, fmt: AmazonFormat, path: str, lineno: int) -> tuple:
    """(user, item, time in the file's units, rating) of one review record."""
    missing = [key for key in fmt.review_keys if key not in record]
    if missing:
        raise ConvertError(
            f"'{path}' line {lineno} has no '{missing[0]}' field; every {fmt.name} review needs "
            f"{', '.join(fmt.review_keys)}."
        )
    user, item = str(record[fmt.user]), str(record[fmt.item])
    return user, item, _number(record, fmt.time, path, lineno), _number(record, fmt.rating, path, lineno)


@dataclass
class TimeWindow:
    """Inclusive bounds in unix seconds (None: open)."""

    start: float | None = None
    end: float | None = None

    def holds(self, seconds: float) -> bool:
        return (self.start is None or seconds >= self.start) and (self.end is None or seconds <= self.end)


def read_reviews(path: str, fmt: AmazonFormat, window: TimeWindow) -> tuple[Reviews, int, int]:
    """(reviews inside the window in file order, reviews read, reviews outside the window)."""
    reviews, read, outside = Reviews(), 0, 0
    for lineno, line in iter_lines(path, "reviews"):
        user, item, time, rating = review_values(parse_record(line, path, lineno), fmt, path, lineno)
        read += 1
        if window.holds(time / fmt.units_per_second):
            reviews.add(user, item, time, rating)
        else:
            outside += 1
    return reviews, read, outside


@dataclass
class ItemMeta:
    title: str = ""
    categories: str = ""
    brand: str = ""
    price: float = math.nan


def _text(value) -> str:
    return "" if value is None else str(value)


def _categories(value) -> str:
    """2014: a list of category paths (lists); 2023: a list of names. Distinct names, in order, ', '-joined."""
    names: list[str] = []
    for entry in value if isinstance(value, list) else [value]:
        for name in entry if isinstance(entry, list) else [entry]:
            if name not in (None, "") and str(name) not in names:
                names.append(str(name))
    return ", ".join(names)


def _price(value) -> float:
    """A number, or NaN where the file has none (2023 has nulls and text such as '—')."""
    try:
        price = float(value)
    except (TypeError, ValueError):
        return math.nan
    return price if math.isfinite(price) and not isinstance(value, bool) else math.nan


def item_meta(record: dict, fmt: AmazonFormat) -> ItemMeta:
    return ItemMeta(_text(record.get("title")), _categories(record.get("categories")),
                    _text(record.get(fmt.brand)), _price(record.get("price")))


def _item_key_pattern(key: str) -> re.Pattern:
    """The item id of a metadata line without parsing it: `{'asin': 'X'` or `, "parent_asin": "X"`."""
    return re.compile(rb"""[{,]\s*['"]%s['"]\s*:\s*['"]([^'"\\]*)['"]""" % re.escape(key.encode()))


def read_meta(path: str, fmt: AmazonFormat, wanted: set) -> dict[str, ItemMeta]:
    """Metadata of the `wanted` items (first line wins).

    Lines whose item id is visibly not wanted are skipped unparsed (a category's metadata holds
    far more items than its 5-core), so a malformed line is reported only for a wanted or unclear item.
    """
    pattern, found = _item_key_pattern(fmt.item), {}
    for lineno, line in iter_lines(path, "metadata"):
        match = pattern.search(line)
        if match and match.group(1).decode("utf-8", "replace") not in wanted:
            continue
        record = parse_record(line, path, lineno)
        if fmt.item not in record:
            raise ConvertError(f"'{path}' line {lineno} has no '{fmt.item}' field: which item it describes is unknown.")
        item = str(record[fmt.item])
        if item in wanted and item not in found:
            found[item] = item_meta(record, fmt)
    return found
