"""Safe, crash-proof checkpointing for any RecBole trainer (ours and RecBole's own).

Mixed in front of a RecBole trainer class: checkpoints hold tensors and plain data only, are
written atomically, and name the data they were trained on, so a checkpoint from another dataset
or SID table is refused instead of loaded. Two files are kept:

* the *best* checkpoint (RecBole's ``saved_model_file``), written when validation improves;
* the *last* checkpoint (``<best stem>-last.pth``), written after every validation (every epoch
  without validation) and, with ``checkpoint_every_steps``, every N optimizer steps mid-epoch.

Both lie under this run's ``checkpoint_dir`` with a name claimed for this run alone
(``run_files.py``); a resumed run starts its own pair there and carries the previous best over.

Both carry everything a resumed run needs to continue exactly as an uninterrupted one would:
model, optimiser, early-stopping state, the global RNG state, the train loader's shuffling
generator, the position inside the epoch and the run's global optimizer step (`train_steps`; the
LR schedule reads it). The trainer hands that step to a model with a `training_step` attribute
before each step (MaskGR picks its dense-loss steps by it), so the model keeps no count of its own
that a resume would reset. A resume from a mid-epoch checkpoint re-creates the epoch's shuffled
order and skips the batches already trained, so metrics match exactly; only that epoch's logged
train loss covers fewer batches.
"""

from __future__ import annotations

import os

import torch
from recbole.utils import set_color

from recbole_maskgr.trainer.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    capture_rng_state,
    check_fingerprint,
    check_shapes,
    data_fingerprint,
    plain_config,
    restore_rng_state,
    safe_load,
    to_plain,
    write_checkpoint,
)
from recbole_maskgr.trainer.epochs import (Deadline, TrainBatches, TrainingBudgetSpent, apply_position, budget_spent,
                                           derived_train_steps, loop_position)
from recbole_maskgr.trainer.run_files import (claim_checkpoint_name, last_checkpoint_path, previous_best_file,
                                              release_claim)


class NonFiniteLossError(ValueError):
    """Training produced NaN or inf; the message names the step and the last good checkpoint.

    A ValueError like RecBole's own NaN check, so the command line reports it as one `error:` line.
    """


class SafeCheckpointMixin:
    """Replaces RecBole's pickle checkpoints; put it before the RecBole trainer in the bases.

    Also gives every trainer an optional time budget (`train_budget_s`): the epoch in
    which it runs out is cut short, validated and checkpointed as usual, then training ends.
    """

    non_finite_hint = "Lower learning_rate or set clip_grad_norm"

    def __init__(self, config, model):
        super().__init__(config, model)
        self.train_steps = 0  # the run's global optimizer step, across resumes (in every checkpoint)
        self._epoch = self.start_epoch
        self._train_loader = None
        self._saving = False
        self._validating = False
        self._deadline = None
        self._skip_batches = 0
        self._resume_position = None
        self._epoch_start_loader_rng = None
        self._pending_valid_result = None
        self._finished = False
        self._last_written = None
        self._carried_best = None  # the resumed run's best checkpoint, re-saved under this run's name
        self._claimed_file = None  # the best-checkpoint name this process claimed (rank 0 only)

    @property
    def last_checkpoint_file(self) -> str:
        return last_checkpoint_path(self.saved_model_file)

    # ------------------------------------------------------------------ training loop hooks
    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        self._deadline = Deadline.from_config(self.config)
        if saved and (self.config["single_spec"] or self.config["local_rank"] == 0):  # only rank 0 writes
            self._claim_files()
        if self.start_epoch >= self.epochs and self._carried_best is not None:
            saved = False  # a finished run was resumed: RecBole would overwrite the best with the last weights
        self._train_loader, self._saving = train_data, saved
        self._validating = bool(valid_data) and self.eval_step > 0
        self._restore_loader_position(train_data)

        def after_validation(epoch_idx, valid_score):
            # RecBole calls this after updating the early-stopping state and best result
            self._pending_valid_result = None
            self._finished = self.cur_step > self.stopping_step
            if saved:
                self._save_last(epoch_idx)
            if callback_fn:
                callback_fn(epoch_idx, valid_score)

        try:
            return super().fit(train_data, valid_data, verbose, saved, show_progress, after_validation)
        except TrainingBudgetSpent:
            budget = f"{self.config['train_budget_s']}s ({self.config['train_budget_clock']} clock)"
            self.logger.info(f"Training budget of {budget} spent; best validation result kept.")
            return self.best_valid_score, self.best_valid_result
        except BaseException as err:  # a crash, Ctrl-C, NaN: say which file continues the run
            release_claim(self._claimed_file)  # no empty best file when it never got its first save
            if saved and os.path.isfile(self.last_checkpoint_file) and self.last_checkpoint_file not in str(err):
                err.add_note(f"Continue this run with --resume={self.last_checkpoint_file}")
                self.logger.error(f"Training stopped ({type(err).__name__}); continue with --resume={self.last_checkpoint_file}")
            raise

    def _claim_files(self) -> None:
        """Claim this run's checkpoint names, put a resumed run's best there, and say where resuming starts."""
        self.saved_model_file = self._claimed_file = claim_checkpoint_name(self.saved_model_file)
        if self._carried_best is not None:
            self._write(dict(self._carried_best, best_model_file=self.saved_model_file), self.saved_model_file, False)
        self.logger.info(f"Checkpoints: best {self.saved_model_file}; to continue after a stop: "
                         f"--resume={self.last_checkpoint_file}")

    def _train_epoch(self, train_data, epoch_idx, *args, **kwargs):
        batches = self._begin_epoch(train_data, epoch_idx)
        loss = super()._train_epoch(batches, epoch_idx, *args, **kwargs)
        self._end_epoch(epoch_idx)
        return loss

    def _begin_epoch(self, train_data, epoch_idx: int) -> TrainBatches:
        """The epoch's batches (resume skip, step checkpoints, budget); raises once the budget is spent."""
        if budget_spent(self._deadline):
            raise TrainingBudgetSpent()
        self._epoch = epoch_idx
        skip, self._skip_batches = self._skip_batches, 0
        return TrainBatches(train_data, self, epoch_idx, skip, self._deadline)

    def _end_epoch(self, epoch_idx: int) -> None:
        """Epochs without validation get their last checkpoint here (validated ones after validating)."""
        validates = self._validating and (epoch_idx + 1) % self.eval_step == 0
        if self._saving and not validates:
            self._save_last(epoch_idx)

    def _before_train_step(self) -> None:
        """Hand the model the global step it is about to train, if it reads one (`training_step`)."""
        if hasattr(self.model, "training_step"):
            self.model.training_step = self.train_steps

    def _after_train_step(self, epoch_idx: int, batches_done: int, batches_total: int) -> None:
        self.train_steps += 1
        every = self.config["checkpoint_every_steps"]
        if self._saving and every and self.train_steps % int(every) == 0 and batches_done < batches_total:
            self._save_last(epoch_idx - 1, batches_done=batches_done)

    def _valid_epoch(self, valid_data, show_progress=False):
        valid_score, valid_result = super()._valid_epoch(valid_data, show_progress=show_progress)
        # RecBole saves the best checkpoint *before* it updates best_valid_result: keep the new one at hand
        self._pending_valid_result = valid_result
        return valid_score, valid_result

    def _check_nan(self, loss):
        """RecBole's NaN check, extended to inf, naming the step and the checkpoint to go back to."""
        if torch.isfinite(loss).all():
            return
        last = self._last_written if self._last_written and os.path.isfile(self._last_written) else None
        where = f"Last good checkpoint: {last}. " if last else "No checkpoint was written yet. "
        then = f"then resume with --resume={last}." if last else "then train anew."
        raise NonFiniteLossError(
            f"Training loss became {loss.detach().float().sum().item()} after {self.train_steps} optimizer steps "
            f"(epoch {self._epoch}). {where}{self.non_finite_hint}, {then}"
        )

    # ------------------------------------------------------------------ writing
    def _checkpoint_state(self, epoch: int, batches_done: int = 0) -> dict:
        best_result = self._pending_valid_result if self._pending_valid_result is not None else self.best_valid_result
        return {
            "format": CHECKPOINT_FORMAT,
            "config": plain_config(self.config),
            "fingerprint": data_fingerprint(self.config, self.model),
            "epoch": int(epoch),  # the last finished epoch
            "cur_step": int(self.cur_step),
            "best_valid_score": float(self.best_valid_score),
            "best_valid_result": to_plain(best_result),
            "best_model_file": str(self.saved_model_file),
            "position": loop_position(batches_done, self.train_steps, self._finished, self._epoch_start_loader_rng,
                                      self._train_loader),
            "state_dict": self.model.state_dict(),
            "other_parameter": to_plain(self.model.other_parameter()),
            "optimizer": self.optimizer.state_dict(),
            "rng": capture_rng_state(),
        }

    def _write(self, state: dict, path: str, verbose: bool) -> None:
        write_checkpoint(state, path)
        self._last_written = path
        if verbose:
            self.logger.info(set_color("Saving current", "blue") + f": {path}")

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
        self._write(self._checkpoint_state(epoch), saved_model_file, verbose)

    def _save_last(self, epoch: int, batches_done: int = 0) -> None:
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        self._write(self._checkpoint_state(epoch, batches_done), self.last_checkpoint_file, verbose=False)

    # ------------------------------------------------------------------ reading
    def load_checkpoint(self, checkpoint_file: str) -> dict:
        """Load weights from our checkpoint after checking it belongs to this data."""
        checkpoint = safe_load(checkpoint_file, map_location=self.device)
        check_fingerprint(checkpoint["fingerprint"], data_fingerprint(self.config, self.model), checkpoint_file)
        upgrade = getattr(self.model, "upgrade_state_dict", None)  # weights of an older release, renamed
        if upgrade is not None:
            checkpoint["state_dict"] = upgrade(checkpoint["state_dict"])
        check_shapes(checkpoint, self.model.state_dict(), plain_config(self.config), checkpoint_file)
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.load_other_parameter(checkpoint.get("other_parameter"))
        return checkpoint

    def resume_checkpoint(self, resume_file):
        """Continue a run from its last (or best) checkpoint exactly where it stood."""
        resume_file = str(resume_file)
        checkpoint = self.load_checkpoint(resume_file)
        position = checkpoint.get("position") or {}
        previous_best = previous_best_file(checkpoint, resume_file)
        if previous_best is not None:
            best = checkpoint if os.path.samefile(previous_best, resume_file) else safe_load(previous_best)
            check_fingerprint(best["fingerprint"], data_fingerprint(self.config, self.model), previous_best)
            self._carried_best = best
        self._finished = bool(position.get("finished"))
        self.start_epoch = self.epochs if self._finished else checkpoint["epoch"] + 1
        self.cur_step = checkpoint["cur_step"]
        self.best_valid_score = checkpoint["best_valid_score"]
        self.best_valid_result = checkpoint.get("best_valid_result")
        self.train_steps = int(position.get("train_steps", 0))
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        restore_rng_state(checkpoint["rng"])
        self._resume_position = position
        self._last_written = resume_file
        skipped = int(position.get("batches_done", 0))
        self.logger.info(
            f"Checkpoint loaded. Resume training from epoch {self.start_epoch}"
            + (f", batch {skipped}" if skipped else "")
            + (f"; best model so far: {previous_best}" if previous_best else "")
            + f"; this run's checkpoints go to {self.checkpoint_dir}"
        )

    def _restore_loader_position(self, train_data) -> None:
        """Apply a resumed checkpoint's shuffle state and in-epoch position to this run's loader, and
        count the steps of a checkpoint written before checkpoints recorded them."""
        position, self._resume_position = self._resume_position, None
        if position is None:
            return
        self._skip_batches = apply_position(position, train_data)
        if "train_steps" not in position:
            self.train_steps = derived_train_steps(self.start_epoch, self._skip_batches, len(train_data))
            self.logger.info(f"The checkpoint records no step count: resuming at optimizer step {self.train_steps} "
                             f"({self.start_epoch} epochs x {len(train_data)} batches + {self._skip_batches}; too "
                             "high by any batches a training budget cut from an epoch).")

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


__all__ = ["SafeCheckpointMixin", "make_safe", "data_fingerprint", "CheckpointError", "NonFiniteLossError",
           "last_checkpoint_path"]
