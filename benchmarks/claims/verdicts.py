"""How measurements become a claim's verdict: the noise a difference must clear, and one verdict from
several parts. Shared by every claim that uses them."""

from __future__ import annotations


def two_standard_errors(rate_a: float, rate_b: float, users: int) -> float:
    """Two standard errors of the difference of two hit rates over the same number of users (unpaired,
    so on the cautious side for two models ranked for the same users)."""
    pooled = (rate_a + rate_b) / 2
    return 2 * (2 * pooled * (1 - pooled) / max(users, 1)) ** 0.5


def combined(verdicts: list[str]) -> str:
    """One row's verdict from its parts: the parts' verdict when they agree, else partly."""
    return verdicts[0] if len(set(verdicts)) == 1 else "partly"
