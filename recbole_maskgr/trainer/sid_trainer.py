"""The trainer of the SID generative models (MaskGR and TIGER): RecBole's loop with a warm-up +
linear-decay LR set every step, clipping, decoding speed in the log, and safe checkpoints."""

from __future__ import annotations

from time import time

import numpy as np
import torch
from recbole.trainer import Trainer
from recbole.utils import set_color

from recbole_maskgr.trainer.safe import NonFiniteLossError, SafeCheckpointMixin


def warmup_linear_decay(step: int, warmup_steps: int, total_steps: int, final_ratio: float) -> float:
    """LR multiplier: linear warm-up to 1, then linear decay to `final_ratio` at `total_steps`."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return 1.0 - (1.0 - final_ratio) * progress


class SIDTrainer(SafeCheckpointMixin, Trainer):
    def __init__(self, config, model):
        super().__init__(config, model)
        self.warmup_steps = int(config["warmup_steps"])
        self.lr_final_ratio = float(config["lr_final_ratio"])
        self.total_steps = None  # known once the train loader is seen
        self._phase = "test"  # whose spec an evaluation decodes by unless given one
        self._eval_spec, self._eval_stats = None, None  # the decoding of the evaluation under way
        if isinstance(self.clip_grad_norm, (int, float)) and not isinstance(self.clip_grad_norm, bool):
            self.clip_grad_norm = {"max_norm": float(self.clip_grad_norm)}

    @property
    def non_finite_hint(self) -> str:
        """The model's own advice (MaskGR names its noise floor), else the general one."""
        return getattr(self.model, "non_finite_hint", None) or super().non_finite_hint

    def _lr_multiplier(self) -> float:
        """The schedule at the run's global optimizer step (the safe trainer's, restored on resume)."""
        return warmup_linear_decay(self.train_steps, self.warmup_steps, self.total_steps, self.lr_final_ratio)

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        """RecBole's epoch loop (and the safe trainer's resume and budget); the schedule's length is
        known here, from the loader."""
        if self.total_steps is None:  # the full schedule, also after a resume (len counts skipped batches)
            self.total_steps = self.epochs * len(train_data)
        return super()._train_epoch(train_data, epoch_idx, loss_func, show_progress)

    def _before_train_step(self) -> None:
        """The safe trainer's step hand-over, then this step's learning rate from the warm-up/decay schedule."""
        super()._before_train_step()
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate * self._lr_multiplier()

    def _valid_epoch(self, valid_data, show_progress=False):
        """RecBole's (and the safe trainer's), with evaluations decoding by the validation spec."""
        self._phase = "valid"
        try:
            return super()._valid_epoch(valid_data, show_progress=show_progress)
        finally:
            self._phase = "test"

    def _full_sort_batch_eval(self, batched_data):
        """RecBole's, with the evaluation's spec passed to `model.rank` and its stats summed here."""
        interaction, history_index, positive_u, positive_i = batched_data
        scores, stats = self.model.rank(interaction.to(self.device), self._eval_spec)  # [U, n_items]
        for key, value in stats.items():
            self._eval_stats[key] += value
        scores[:, 0] = -np.inf
        if history_index is not None:
            scores[history_index] = -np.inf  # items already in the history are not recommended again
        return interaction, scores, positive_u, positive_i

    @torch.no_grad()
    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False, spec=None):
        """RecBole's, decoding by `spec` (a `DecodingSpec`; default the model's spec of the phase:
        validation inside `_valid_epoch`, else test), with the summed decoding stats kept in
        `last_decode_stats` and logged."""
        self._eval_spec = spec or self.model.specs[self._phase]
        self._eval_stats = stats = {"users": 0, "passes": 0, "seconds": 0.0}
        start = time()
        result = super().evaluate(eval_data, load_best_model, model_file, show_progress)
        elapsed = time() - start
        if stats["users"]:
            self.last_decode_stats = {
                "users": stats["users"],
                "nfe_per_user": stats["passes"] / stats["users"],
                "decode_seconds": stats["seconds"],
                "users_per_second": stats["users"] / max(stats["seconds"], 1e-9),
                "eval_seconds": elapsed,
            }
            self.logger.info(
                set_color("decoding", "blue")
                + f": {stats['users']} users, {self.last_decode_stats['nfe_per_user']:.1f} encoder passes/user, "
                f"{self.last_decode_stats['users_per_second']:.1f} users/s ({self._eval_spec.phase})"
            )
        return result


__all__ = ["SIDTrainer", "NonFiniteLossError", "warmup_linear_decay"]
