"""Safe checkpointing for any RecBole trainer (ours and RecBole's own).

Mixed in front of a RecBole trainer class: checkpoints hold tensors and plain data only, are
written atomically, carry the RNG state for exact resumption, and name the data they were
trained on, so a checkpoint from another dataset or SID table is refused instead of loaded.
"""

from __future__ import annotations

import hashlib
from time import monotonic

import torch
from recbole.utils import set_color

from recbole_maskgr.trainer.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    atomic_save,
    capture_rng_state,
    restore_rng_state,
    safe_load,
    to_plain,
)


def data_fingerprint(config, model) -> dict:
    """What a checkpoint's weights are tied to: the dataset, its item count and its SID table."""
    fingerprint = {"dataset": str(config["dataset"]), "n_items": int(getattr(model, "n_items", -1))}
    item_sid = getattr(model, "item_sid", None)
    if isinstance(item_sid, torch.Tensor):
        digest = hashlib.sha256(item_sid.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
        fingerprint["sid_sha256"] = digest[:16]
    return fingerprint


def check_fingerprint(saved: dict, current: dict, path: str) -> None:
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            raise CheckpointError(
                f"Checkpoint '{path}' was trained on different data: {key} is {saved.get(key)!r} there "
                f"but {current.get(key)!r} now. Use the same dataset and SID settings, or train anew."
            )


def plain_config(config) -> dict:
    """The user-facing settings (files, dict, command line) that rebuild the same Config."""
    settings = to_plain(dict(config.external_config_dict))
    settings.update(model=config["model"], dataset=config["dataset"])
    return settings


class TrainingBudgetSpent(Exception):
    """Raised at the start of an epoch once `train_budget_s` is used up; `fit` ends cleanly."""


class BudgetedBatches:
    """A train loader that stops yielding once the wall-clock budget is spent (mid-epoch too)."""

    def __init__(self, loader, deadline: float):
        self._loader, self._deadline = loader, deadline

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def __len__(self):
        return len(self._loader)

    def __iter__(self):
        for index, batch in enumerate(self._loader):
            if index and monotonic() >= self._deadline:  # at least one batch: epoch stats need a loss
                break
            yield batch


class SafeCheckpointMixin:
    """Replaces RecBole's pickle checkpoints; put it before the RecBole trainer in the bases.

    Also gives every trainer an optional wall-clock budget (`train_budget_s`): the epoch in
    which it runs out is cut short, validated and checkpointed as usual, then training ends.
    """

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        budget = self.config["train_budget_s"]
        self._deadline = monotonic() + float(budget) if budget else None
        try:
            return super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)
        except TrainingBudgetSpent:
            self.logger.info(f"Training budget of {budget}s spent; best validation result kept.")
            return self.best_valid_score, self.best_valid_result

    def _train_epoch(self, train_data, epoch_idx, *args, **kwargs):
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            if monotonic() >= deadline:
                raise TrainingBudgetSpent()
            train_data = BudgetedBatches(train_data, deadline)
        return super()._train_epoch(train_data, epoch_idx, *args, **kwargs)

    def _checkpoint_state(self, epoch: int) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": plain_config(self.config),
            "fingerprint": data_fingerprint(self.config, self.model),
            "epoch": int(epoch),
            "cur_step": int(self.cur_step),
            "best_valid_score": float(self.best_valid_score),
            "best_valid_result": to_plain(self.best_valid_result),
            "state_dict": self.model.state_dict(),
            "other_parameter": to_plain(self.model.other_parameter()),
            "optimizer": self.optimizer.state_dict(),
            "extra": self._extra_checkpoint_state(),
            "rng": capture_rng_state(),
        }

    def _extra_checkpoint_state(self) -> dict:
        """Hook for subclasses (LR schedule, step counters)."""
        return {}

    def _load_extra_checkpoint_state(self, extra: dict) -> None:
        """Hook for subclasses."""

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
        atomic_save(self._checkpoint_state(epoch), saved_model_file)
        if verbose:
            self.logger.info(set_color("Saving current", "blue") + f": {saved_model_file}")

    def load_checkpoint(self, checkpoint_file: str) -> dict:
        """Load weights from our checkpoint after checking it belongs to this data."""
        checkpoint = safe_load(checkpoint_file, map_location=self.device)
        check_fingerprint(checkpoint["fingerprint"], data_fingerprint(self.config, self.model), checkpoint_file)
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.load_other_parameter(checkpoint.get("other_parameter"))
        return checkpoint

    def resume_checkpoint(self, resume_file):
        resume_file = str(resume_file)
        checkpoint = self.load_checkpoint(resume_file)
        self.saved_model_file = resume_file
        self.start_epoch = checkpoint["epoch"] + 1
        self.cur_step = checkpoint["cur_step"]
        self.best_valid_score = checkpoint["best_valid_score"]
        self.best_valid_result = checkpoint.get("best_valid_result")
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self._load_extra_checkpoint_state(checkpoint.get("extra") or {})
        restore_rng_state(checkpoint["rng"])
        self.logger.info(f"Checkpoint loaded. Resume training from epoch {self.start_epoch}")

    @torch.no_grad()
    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if not eval_data:
            return None
        if load_best_model:
            checkpoint_file = model_file or self.saved_model_file
            self.load_checkpoint(checkpoint_file)
            self.logger.info(f"Loading model structure and parameters from {checkpoint_file}")
        return super().evaluate(eval_data, load_best_model=False, show_progress=show_progress)


def make_safe(trainer_class: type) -> type:
    """A subclass of `trainer_class` with safe checkpoints (no-op when it has them already)."""
    if issubclass(trainer_class, SafeCheckpointMixin):
        return trainer_class
    return type(f"Safe{trainer_class.__name__}", (SafeCheckpointMixin, trainer_class), {})


__all__ = ["SafeCheckpointMixin", "make_safe", "data_fingerprint", "CheckpointError"]
