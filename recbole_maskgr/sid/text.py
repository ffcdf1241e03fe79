"""Item text for the semantic-ID encoder.

The text encoder sees one short readable string per item. Labelled fields ("title: X; brand: Y") keep
the encoder from confusing, say, a brand with a title word, and skipping empty values keeps missing
metadata from adding noise. Items that end up with no text at all get a documented fallback
(``"item <raw id>"``) so that every item still has a distinct, deterministic embedding.
"""

from __future__ import annotations

import math
import string
from typing import Mapping, Sequence

FALLBACK_TEMPLATE = "item {raw_id}"
"""Text given to an item none of whose configured fields has a value."""


def _is_empty(value) -> bool:
    """None, NaN and whitespace-only strings count as "no value"."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return str(value).strip() == ""


def _label(field: str) -> str:
    """Readable label for a field name (``movie_title`` -> ``movie title``)."""
    return field.replace("_", " ")


def template_fields(template: str) -> list[str]:
    """The ``{field}`` placeholder names in a user template, in order."""
    names = []
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None and name != "":
            names.append(name)
    return names


def template_problem(template) -> str | None:
    """Why `template` cannot format item texts (bad braces, positional or dotted fields, format specs
    that do not fit text), or None; checked before the data is loaded."""
    if not isinstance(template, str):
        return f"it is {type(template).__name__}, not text"
    try:
        names = template_fields(template)
        dotted = [name for name in names if not name.isidentifier()]
        if dotted:
            return f"'{{{dotted[0]}}}' is not a plain field name (attributes and indexes are not supported)"
        template.format_map({name: "x" for name in names})
    except (ValueError, IndexError, KeyError) as err:
        return str(err)
    return None


def build_item_texts(
    columns: Mapping[str, Sequence[str | None]],
    fields: Sequence[str],
    template: str | None = None,
) -> list[str]:
    """One text per item; ``""`` for an item with no value in any of ``fields``.

    Args:
        columns: field name -> one value per item (already turned into strings; None/NaN/"" = missing).
        fields: the fields to use, in order; fields absent from ``columns`` are skipped.
        template: optional ``str.format`` template with ``{field}`` placeholders (missing values -> "").
            Without it the text is ``"<field>: <value>; ..."`` over the non-empty values.

    Returns an empty string for items with no text, so the caller can apply :func:`apply_fallback`
    and warn with the count.
    """
    used = [f for f in fields if f in columns]
    lengths = {len(columns[f]) for f in used}
    if len(lengths) > 1:
        raise ValueError(f"text columns have different lengths: { {f: len(columns[f]) for f in used} }")
    n_items = lengths.pop() if lengths else 0

    if template is not None:
        names = template_fields(template)
        unknown = sorted(set(names) - set(columns))
        if unknown:
            raise ValueError(
                f"sid_text_template names fields {unknown} that are not loaded; "
                f"available fields: {sorted(columns)}"
            )
        used_in_template = list(dict.fromkeys(names))

    texts = []
    for i in range(n_items):
        values = {f: columns[f][i] for f in used}
        if template is None:
            parts = [f"{_label(f)}: {str(v).strip()}" for f, v in values.items() if not _is_empty(v)]
            texts.append("; ".join(parts))
        else:
            row = {f: columns[f][i] for f in used_in_template}
            if all(_is_empty(v) for v in row.values()):
                texts.append("")
                continue
            row = {f: "" if _is_empty(v) else str(v).strip() for f, v in row.items()}
            texts.append(template.format_map(row).strip())
    return texts


def apply_fallback(texts: Sequence[str], raw_ids: Sequence[str]) -> tuple[list[str], int]:
    """Replace empty texts by ``"item <raw id>"``; return (texts, number replaced).

    Using the raw id keeps the fallback texts distinct (an empty string for all of them would give
    them one shared embedding and one big collision group).
    """
    if len(texts) != len(raw_ids):
        raise ValueError(f"{len(texts)} texts but {len(raw_ids)} raw ids")
    out, n_missing = [], 0
    for text, raw_id in zip(texts, raw_ids):
        if _is_empty(text):
            out.append(FALLBACK_TEMPLATE.format(raw_id=raw_id))
            n_missing += 1
        else:
            out.append(text)
    return out, n_missing
