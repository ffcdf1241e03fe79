"""How one evaluation decodes, as one value passed to the model instead of attributes set on it.

A model builds one `DecodingSpec` per phase from its config (`valid_decoding` / `test_decoding`
pick the mode, the rest is shared); a benchmark varies decoding with `dataclasses.replace` on
`model.specs["test"]`, so the model itself never changes between settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from recbole_maskgr.settings import SETTINGS, setting_value


def declared(name: str):
    """A field's default: the setting's declared one (recbole_maskgr/settings), not a second copy."""
    return SETTINGS[name].default_for("MaskGR")


def split_schedule(total: int, steps: int) -> list[int]:
    """`steps` near-equal parts of `total` tokens, larger parts first (H=5, 2 steps -> [3, 2])."""
    if not 1 <= steps <= total:
        raise ValueError(f"decode_steps must be between 1 and {total} (the SID length), got {steps}")
    base, extra = divmod(total, steps)
    return [base + (1 if i < extra else 0) for i in range(steps)]


def parse_schedule(value, sid_length: int) -> list[int]:
    """`decode_steps`: a step count (split evenly, larger parts first) or an explicit list like [3, 2]."""
    if isinstance(value, (list, tuple)):
        schedule = [int(v) for v in value]
        if sum(schedule) != sid_length or min(schedule) < 1:
            raise ValueError(f"decode_steps {schedule} must be positive and add up to the SID length {sid_length}")
        return schedule
    return split_schedule(sid_length, int(value if value is not None else sid_length))


@dataclass(frozen=True)
class DecodingSpec:
    """The settings one decoding call reads; `phase` only labels the log line."""

    mode: str  # beam | marginal | dense | item (the model's `decoding_modes`)
    beam_width: int  # beams kept (dense: neighbours listed first)
    schedule: tuple[int, ...]  # tokens unmasked per encoder pass, one item's worth (MaskGR)
    order: str = declared("decode_order")  # which masked positions a pass unmasks first (MaskGR)
    invalid_sid: str = declared("invalid_sid")  # constrained | projection
    next_k: int = declared("next_k")  # items decoded jointly; must match the model's target slots
    rerank_weight: float = declared("beam_rerank_weight")  # beams' final score += w * item-head log-prob
    marginal_weight: float = declared("item_marginal_weight")  # `item` mode's score += w * one-pass token log-likelihood
    chunk_users: int = declared("decode_chunk_users")  # users decoded together, grouped by history length
    phase: str = "test"

    def __post_init__(self):
        object.__setattr__(self, "schedule", tuple(int(m) for m in self.schedule))  # a list passed in stays safe

    @classmethod
    def from_config(cls, config, phase: str, sid_length: int) -> "DecodingSpec":
        """The `phase` ("valid" / "test") spec. Settings a model does not read (TIGER has no
        `decode_order` or `next_k`) take their declared defaults, which change nothing for it; without
        `decode_steps` a pass unmasks one token."""
        return cls(
            mode=config[f"{phase}_decoding"],
            beam_width=int(config["beam_width"]),
            schedule=parse_schedule(config["decode_steps"], sid_length),
            order=setting_value(config, "decode_order"),
            invalid_sid=setting_value(config, "invalid_sid"),
            next_k=int(setting_value(config, "next_k")),
            rerank_weight=float(setting_value(config, "beam_rerank_weight")),
            marginal_weight=float(setting_value(config, "item_marginal_weight")),
            chunk_users=int(setting_value(config, "decode_chunk_users")),
            phase=phase,
        )
