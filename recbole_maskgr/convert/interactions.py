"""Reviews as interactions: exact duplicates dropped, iterative k-core, and a time order that keeps
the source file's order among one user's same-time reviews.

Rows are held as compact arrays (ids numbered by first appearance), so memory grows with the kept
rows only, not with the file.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np


class Reviews:
    """Reviews in file order: users and items as ints numbered by first appearance."""

    def __init__(self):
        self.user_ids: dict[str, int] = {}
        self.item_ids: dict[str, int] = {}
        self._columns = {"user": array("q"), "item": array("q"), "time": array("d"), "rating": array("d")}

    def add(self, user: str, item: str, time: float, rating: float) -> None:
        columns = self._columns
        columns["user"].append(self.user_ids.setdefault(user, len(self.user_ids)))
        columns["item"].append(self.item_ids.setdefault(item, len(self.item_ids)))
        columns["time"].append(time)
        columns["rating"].append(rating)

    def __len__(self) -> int:
        return len(self._columns["user"])

    def column(self, name: str) -> np.ndarray:
        return np.frombuffer(self._columns[name], dtype=np.int64 if name in ("user", "item") else np.float64)

    def tokens(self, kind: str) -> list[str]:
        """Raw ids by int id ("user" or "item")."""
        ids = self.user_ids if kind == "user" else self.item_ids
        return list(ids)


def first_occurrences(user: np.ndarray, item: np.ndarray, time: np.ndarray) -> np.ndarray:
    """True for the first row of every exact (user, item, time); later copies are duplicates."""
    rows = np.arange(len(user))
    order = np.lexsort((rows, time, item, user))
    same = (np.diff(user[order]) == 0) & (np.diff(item[order]) == 0) & (np.diff(time[order]) == 0)
    keep = np.ones(len(user), dtype=bool)
    keep[order[1:][same]] = False
    return keep


def k_core(user: np.ndarray, item: np.ndarray, keep: np.ndarray, k: int) -> np.ndarray:
    """Drop users and items with fewer than k kept rows, again and again until none is left."""
    keep = keep.copy()
    while True:
        users = np.bincount(user[keep], minlength=user.max(initial=0) + 1)
        items = np.bincount(item[keep], minlength=item.max(initial=0) + 1)
        still = keep & (users[user] >= k) & (items[item] >= k)
        if (still == keep).all():
            return keep
        keep = still


@dataclass
class TimeOrder:
    rows: np.ndarray  # row indices: users by first appearance, each user's rows by (time, file position)
    fraction: np.ndarray  # per row of `rows`: j / n for the j-th of n same-time reviews of a user (0 if alone)
    tied: int  # rows that share their user's time with an earlier row


def time_order(user: np.ndarray, time: np.ndarray) -> TimeOrder:
    """Each user's rows in time order, same-time rows in file order, with a tie-break fraction.

    Adding `fraction` (a share of one time unit) to the time makes every user's times distinct and
    keeps the file's order, so any time sort, stable or not, gives the same sequences.
    """
    rows = np.arange(len(user))
    order = np.lexsort((rows, time, user))
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (np.diff(user[order]) != 0) | (np.diff(time[order]) != 0)
    starts = np.flatnonzero(new_group)
    sizes = np.diff(np.append(starts, len(order)))
    rank = np.arange(len(order)) - np.repeat(starts, sizes)
    fraction = rank / np.repeat(sizes, sizes)
    return TimeOrder(order, fraction, int((rank > 0).sum()))
