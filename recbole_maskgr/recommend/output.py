"""Recommendation rows as a readable table or as JSON lines, and where they may be written."""

from __future__ import annotations

import json
import os

from recbole_maskgr.recommend.catalog import RecommendError


def aligned(header: list[str], lines: list[list[str]], right: set[int]) -> list[str]:
    """Columns padded to their widest cell (`right`: right-aligned columns; the last is never padded)."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines)]
    out = []
    for cells in [header, *lines]:
        padded = [cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(cells, widths))]
        out.append("  " + "  ".join(padded[:-1] + [cells[-1]]))
    return out


def history_table(label: str, items: list[str], titles: dict[str, str], model_reads: int) -> list[str]:
    """The history the model reads (its last `model_reads` items), oldest first, with titles."""
    shown_items = items[-model_reads:]
    first = len(items) - len(shown_items) + 1
    head = ("history given" if label == "history" else f"user {label}") + f": history of {len(items)} items"
    head += f", the last {len(shown_items)} of which the model reads:" if len(items) > model_reads else ":"
    lines = [[str(first + n), item, titles.get(item, "")] for n, item in enumerate(shown_items)]
    return [head, *aligned(["#", "item", "title"], lines, right={0})]


def table(rows: list[dict], histories: dict[str, list[str]] | None = None, titles: dict[str, str] | None = None,
          model_reads: int = 0) -> str:
    """One block per user: (its history, if given) then rank, item, score, title."""
    blocks = []
    for label in dict.fromkeys(row["user"] for row in rows):
        mine = [row for row in rows if row["user"] == label]
        block = history_table(label, histories[label], titles or {}, model_reads) if histories else []
        what = "history given" if label == "history" else f"user {label}"
        block.append(f"top-{len(mine)} for {what}:")
        lines = [[str(r["rank"]), r["item"], f"{r['score']:.4f}", r["title"]] for r in mine]
        block += aligned(["rank", "item", "score", "title"], lines, right={0, 2})
        blocks.append("\n".join(block))
    return "\n\n".join(blocks) + "\n"


def json_lines(rows: list[dict]) -> str:
    """One JSON object per line: user, rank, item, title, score."""
    keys = ("user", "rank", "item", "title", "score")
    return "".join(json.dumps({key: row[key] for key in keys}, ensure_ascii=False) + "\n" for row in rows)


def check_out_path(path: str) -> None:
    """RecommendError for an --out that names a folder (it would be replaced by, or hold, the list)."""
    if os.path.isdir(path) or path.endswith(("/", os.sep)):
        raise RecommendError(f"--out '{path}' is a directory; name a file, e.g. {os.path.join(path, 'top10.jsonl')}")
