"""What a setting may hold: one rule object per setting, read by the checks, the error texts and the docs.

A rule answers `problem(value)` with None or the reason a value is refused, written so that
"<key> must be <allowed>, got <value>" reads as English; `allowed` is also the docs' column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


def _as_is(value):
    return value


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Rule:
    """`test(value) -> bool` and how the allowed values read; `nullable`: `~` (None) is allowed too."""

    test: Callable[[object], bool]
    allowed: str
    nullable: bool = False
    cast: Callable = _as_is  # the Python type the code reads: int, float, as is

    def problem(self, value) -> str | None:
        if value is None and self.nullable:
            return None
        if self.test(value):
            return None
        return f"must be {self.allowed}, got {value!r}"

    def or_none(self, meaning: str = "") -> "Rule":
        """The same rule, and `~` (None) allowed: `meaning` says what ~ does, e.g. 'off'."""
        return Rule(self.test, f"{self.allowed}, or ~{f' ({meaning})' if meaning else ''}", True, self.cast)


def whole(low: int, high: int | None = None) -> Rule:
    """An integer from `low` (to `high`); a float holding a whole number (YAML's 1.0) counts."""
    def test(v):
        return (_is_number(v) and float(v).is_integer() and v >= low and (high is None or v <= high))
    return Rule(test, f"an integer >= {low}" if high is None else f"an integer from {low} to {high}", cast=int)


def number(low: float, high: float | None = None, low_open: bool = False, high_open: bool = False) -> Rule:
    """A number in an interval; open ends are written with round brackets, as in maths."""
    def test(v):
        return (_is_number(v) and (v > low if low_open else v >= low)
                and (high is None or (v < high if high_open else v <= high)))
    if high is None:
        allowed = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        allowed = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    return Rule(test, allowed, cast=float)


def choice(*names: str, notes: dict[str, str] | None = None) -> Rule:
    """One of a few names: `choice("a", "b", notes={"a": "what a does"})`; a note is shown beside
    its name in errors and docs."""
    notes = notes or {}
    allowed = " or ".join(f"'{name}'" + (f" ({notes[name]})" if notes.get(name) else "") for name in names)
    return Rule(lambda v: isinstance(v, str) and v in names, allowed)


FLAG = Rule(lambda v: isinstance(v, bool), "True or False")
TEXT = Rule(lambda v: isinstance(v, str) and v != "", "text")
MAPPING = Rule(lambda v: isinstance(v, dict), "a mapping (key: value pairs)")
TEXT_LIST = Rule(lambda v: (isinstance(v, str) and v != "") or (isinstance(v, (list, tuple)) and len(v) > 0
                            and all(isinstance(x, str) and x for x in v)), "a field name or a list of them")
ANY = Rule(lambda v: True, "anything RecBole reads")


def schedule_rule() -> Rule:
    """`decode_steps`: ~ (one token per pass), a pass count, or the tokens unmasked at each pass;
    whether it fits the SID length is the model's rule (it needs `sid_levels`)."""
    one_or_more = whole(1).test

    def test(v):
        if isinstance(v, (list, tuple)):
            return len(v) > 0 and all(one_or_more(x) for x in v)
        return one_or_more(v)
    return Rule(test, "an integer >= 1, a list of integers >= 1 like [3, 2], or ~ (one token per pass)", nullable=True)
