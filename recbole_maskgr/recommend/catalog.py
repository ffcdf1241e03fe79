"""What the dataset's raw files say about ids and items, read without RecBole or the model.

The raw `.inter` ids let `recommend` reject a typo'd user or item before the model is loaded;
the `.item` file gives each item its title (or its first text field).
"""

from __future__ import annotations

import os

from recbole_maskgr.data.atomic_format import atomic_path, file_format, inter_paths, iter_rows, read_header


class RecommendError(ValueError):
    """A recommendation request that cannot be answered; the message names what is wrong."""


def shown(ids, limit: int = 10) -> str:
    """'a, b, c' (and 'and N more' past `limit`) for messages."""
    ids = list(ids)
    text = ", ".join(str(i) for i in ids[:limit])
    return text + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def parse_ids(text: str, what: str) -> list[str]:
    """'1, 2,3' -> ['1', '2', '3'] (raw ids are tokens, kept as text)."""
    ids = [part.strip() for part in str(text).split(",") if part.strip()]
    if not ids:
        raise RecommendError(f"no {what} given: write them comma-separated, e.g. 1,2,3")
    return ids


def raw_inter_ids(config) -> tuple[set[str], set[str]]:
    """Every raw user id and item id in the dataset's interaction file(s), before any filter."""
    fmt = file_format(config)
    users, items = set(), set()
    for path in inter_paths(config):
        atomic = read_header(path, fmt, config, "inter")
        columns = {}
        for key in ("USER_ID_FIELD", "ITEM_ID_FIELD"):
            if config[key] not in atomic.names:
                raise RecommendError(f"'{path}' has no '{config[key]}' column ({key}); its columns: "
                                     f"{shown(atomic.names)}")
            columns[key] = atomic.names.index(config[key])
        for _, cells in iter_rows(atomic, fmt):
            users.add(cells[columns["USER_ID_FIELD"]])
            items.add(cells[columns["ITEM_ID_FIELD"]])
    return users, items


def check_raw_ids(config, users: list[str] | None, history: list[str] | None) -> None:
    """RecommendError naming the users or items that the interaction file does not hold at all."""
    known_users, known_items = raw_inter_ids(config)
    where = shown([os.path.normpath(path) for path in inter_paths(config)], 2)
    if users is not None:
        unknown = [u for u in users if u not in known_users]
        if unknown:
            raise RecommendError(f"unknown user id(s) {shown(unknown)}: not in {where}")
    if history is not None:
        unknown = [i for i in history if i not in known_items]
        if unknown:
            raise RecommendError(f"unknown item id(s) {shown(unknown)}: not in {where}")


def title_column(names: list[str], types: list[str], item_field: str) -> str | None:
    """`title`, else a column named like '*title*', else the first text (token_seq, then token) column."""
    text = [(n, t) for n, t in zip(names, types) if n != item_field and t in ("token", "token_seq")]
    for pick in (lambda n, t: n == "title", lambda n, t: "title" in n.lower(),
                 lambda n, t: t == "token_seq", lambda n, t: True):
        for name, ftype in text:
            if pick(name, ftype):
                return name
    return None


def item_titles(config) -> dict[str, str]:
    """Raw item id -> title, from the dataset's `.item` file ({} when it has none or no text column)."""
    path = atomic_path(config, "item")
    if not os.path.isfile(path):
        return {}
    fmt = file_format(config)
    atomic = read_header(path, fmt, config, "item")
    item_field = config["ITEM_ID_FIELD"]
    column = title_column(atomic.names, atomic.types, item_field)
    if column is None or item_field not in atomic.names:
        return {}
    id_at, title_at = atomic.names.index(item_field), atomic.names.index(column)
    return {cells[id_at]: cells[title_at].strip() for _, cells in iter_rows(atomic, fmt)}
