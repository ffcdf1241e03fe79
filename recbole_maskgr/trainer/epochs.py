"""One epoch of the train loader as the safe trainer sees it: resume position, step hooks, budget."""

from __future__ import annotations

from time import monotonic, process_time

import torch
import torch.distributed as dist

from recbole_maskgr.distributed import is_distributed


class TrainingBudgetSpent(Exception):
    """Raised at the start of an epoch once `train_budget_s` is used up; `fit` ends cleanly."""


# `train_budget_clock`: wall seconds, or this process's CPU seconds (all its threads) - a budget
# that other work on a shared machine does not shrink.
BUDGET_CLOCKS = {"wall": monotonic, "process": process_time}


class Deadline:
    """When the training budget runs out, on the chosen clock."""

    def __init__(self, seconds: float, clock: str):
        self._clock = BUDGET_CLOCKS[clock]
        self._end = self._clock() + float(seconds)

    @classmethod
    def from_config(cls, config) -> "Deadline | None":
        budget = config["train_budget_s"]
        return cls(budget, config["train_budget_clock"]) if budget else None

    def passed(self) -> bool:
        """Whether the budget is used up; under DDP, in any rank (all ranks then stop at the same
        batch: one rank stopping alone would leave the others waiting in the gradient all-reduce)."""
        spent = self._clock() >= self._end
        if is_distributed():
            flag = torch.tensor([float(spent)], device="cuda" if dist.get_backend() == "nccl" else "cpu")  # [1]
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            spent = bool(flag.item())
        return spent


def budget_spent(deadline: Deadline | None) -> bool:
    return deadline is not None and deadline.passed()


def loader_rng_state(loader) -> torch.Tensor | None:
    """State of the generator RecBole's loaders shuffle with (None for loaders without one)."""
    generator = getattr(loader, "generator", None)
    return generator.get_state() if isinstance(generator, torch.Generator) else None


def loop_position(batches_done: int, train_steps: int, finished: bool, epoch_start_rng, loader) -> dict:
    """Where the loop stands, for a checkpoint: batches done in the next epoch, optimizer steps over
    the run, and the loader's shuffle state for that epoch (its starting state when it is under way:
    replaying the epoch's order needs it)."""
    return {
        "batches_done": int(batches_done),
        "train_steps": int(train_steps),
        "loader_rng": epoch_start_rng if batches_done else loader_rng_state(loader),
        "finished": bool(finished),
    }


def apply_position(position: dict, loader) -> int:
    """Give this run's loader a checkpoint's shuffle state; returns the batches of its epoch already trained."""
    generator = getattr(loader, "generator", None)
    if position.get("loader_rng") is not None and isinstance(generator, torch.Generator):
        generator.set_state(position["loader_rng"])
    return int(position.get("batches_done", 0))


def derived_train_steps(epochs_done: int, batches_done: int, batches_per_epoch: int) -> int:
    """Optimizer steps before a checkpoint written without a step count: every epoch so far whole (too
    many by the batches an epoch cut short by the training budget skipped)."""
    return epochs_done * batches_per_epoch + batches_done


class TrainBatches:
    """One epoch of the train loader, as the trainer's loop sees it.

    Skips the batches a resumed checkpoint already trained, tells the trainer before each step (it
    hands the model its global step) and after it (it may write a mid-epoch checkpoint then: the
    step's optimizer update is done when the loop asks for the next batch), and stops once the
    training budget is spent.
    """

    def __init__(self, loader, trainer, epoch: int, skip: int, deadline: Deadline | None):
        self._loader, self._trainer = loader, trainer
        self._epoch, self._skip, self._deadline = epoch, skip, deadline

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def __len__(self):
        return len(self._loader)

    def __iter__(self):
        # captured before iter(): creating the loader's iterator already draws from its generator
        self._trainer._epoch_start_loader_rng = loader_rng_state(self._loader)
        total, yielded = len(self._loader), 0
        for index, batch in enumerate(self._loader):
            if index < self._skip:
                continue
            if yielded and budget_spent(self._deadline):
                break  # at least one batch: epoch stats need a loss
            self._trainer._before_train_step()
            yield batch
            yielded += 1
            self._trainer._after_train_step(self._epoch, index + 1, total)
