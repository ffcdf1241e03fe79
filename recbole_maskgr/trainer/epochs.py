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


class TrainBatches:
    """One epoch of the train loader, as the trainer's loop sees it.

    Skips the batches a resumed checkpoint already trained, reports each finished step to the
    trainer (which may write a mid-epoch checkpoint then: the step's optimizer update is done when
    the loop asks for the next batch), and stops once the training budget is spent.
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
            yield batch
            yielded += 1
            self._trainer._after_train_step(self._epoch, index + 1, total)
