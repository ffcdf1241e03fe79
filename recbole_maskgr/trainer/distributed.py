"""What any trainer (ours or RecBole's) needs to be correct under DDP, on CPU (gloo) or GPU (NCCL).

RecBole 1.2.1's own DDP trainer wraps the model with `device_ids=[local_rank]` (refused for a CPU
model), lets every rank create a TensorBoard folder, pads each rank's share of the evaluation users
with repeated users, and averages per-rank metrics weighted by its number of *batches*. Here
every user is evaluated exactly once and the metrics are computed from all ranks' rows together,
so they equal a one-process evaluation; global rank 0 alone writes checkpoints, and the others
read the best one only after it is on disk.
"""

from __future__ import annotations

import contextlib

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

from recbole_maskgr.distributed import barrier, broadcast_object, is_rank_zero

# The collector's per-user rows (the rest of its data describes the whole training set).
PER_USER_KEYS = ("rec.topk", "rec.meanrank", "rec.score", "rec.items", "data.label")


class EvenShardSampler(DistributedSampler):
    """Rank r takes users r, r + W, r + 2W, ... and no padding: each user is evaluated once."""

    def __iter__(self):
        return iter(range(self.rank, len(self.dataset), self.num_replicas))

    def __len__(self):
        return len(range(self.rank, len(self.dataset), self.num_replicas))


def unpad_eval_loader(loader) -> None:
    """Make an evaluation loader's DistributedSampler stop repeating users (in place)."""
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, DistributedSampler) and not isinstance(sampler, EvenShardSampler):
        sampler.__class__ = EvenShardSampler  # the DataLoader's batch sampler holds this very object


def gather_rows(struct):
    """The collector's data with every rank's per-user rows concatenated (rank order)."""
    local = {key: struct[key] for key in PER_USER_KEYS if key in struct}
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, local)
    for key in {k for part in everyone for k in part}:
        struct.set(key, torch.cat([part[key].cpu() for part in everyone if key in part], dim=0))
    return struct


def _ddp_for_any_device(module, device_ids=None, **kwargs):
    """DistributedDataParallel as RecBole builds it, without `device_ids` for a CPU module."""
    on_cuda = next(module.parameters()).is_cuda
    return DistributedDataParallel(module, device_ids=device_ids if on_cuda else None, **kwargs)


class _NoTensorBoard:
    """Stands in for SummaryWriter in ranks other than 0: accepts every call, writes nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


@contextlib.contextmanager
def _recbole_trainer_for_this_rank():
    """While RecBole's Trainer.__init__ runs: CPU-capable DDP, and TensorBoard files and the checkpoint
    folder from rank 0 only."""
    from recbole.trainer import trainer as recbole_trainer

    names = ("DistributedDataParallel", "get_tensorboard", "ensure_dir")
    saved = {name: getattr(recbole_trainer, name) for name in names}
    recbole_trainer.DistributedDataParallel = _ddp_for_any_device
    if not is_rank_zero():
        recbole_trainer.get_tensorboard = lambda logger: _NoTensorBoard()
        recbole_trainer.ensure_dir = lambda path: None
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(recbole_trainer, name, value)


class DistributedTrainerMixin:
    """Put in front of a (safe) trainer when `config['single_spec']` is False."""

    def __init__(self, config, model):
        with _recbole_trainer_for_this_rank():
            super().__init__(config, model)
        collect = self.eval_collector.get_data_struct
        self.eval_collector.get_data_struct = lambda: gather_rows(collect())

    def _map_reduce(self, result, num_sample):
        return result  # already computed from every rank's rows (gather_rows)

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        if saved:  # rank 0 claims the checkpoint names; every rank must load the same best file later
            if is_rank_zero():
                super()._claim_files()
            self.saved_model_file = broadcast_object(self.saved_model_file)
        return super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)

    def _claim_files(self) -> None:
        """Done in `fit`, before training, for all ranks at once."""

    def _write(self, state: dict, path: str, verbose: bool) -> None:
        if is_rank_zero():  # global rank 0, also across machines (RecBole checks the local rank)
            super()._write(state, path, verbose)
        else:
            self._last_written = path

    @torch.no_grad()
    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False, **options):
        """`options`: passed on to the trainer below (the SID trainer's decoding `spec`)."""
        if not eval_data:
            return None
        unpad_eval_loader(eval_data)
        if load_best_model:
            barrier()  # rank 0 may still be writing the best checkpoint
        return super().evaluate(eval_data, load_best_model, model_file, show_progress, **options)


def make_distributed(trainer_class: type) -> type:
    """A subclass of `trainer_class` that is correct under DDP (no-op when it is already)."""
    if issubclass(trainer_class, DistributedTrainerMixin):
        return trainer_class
    return type(f"Distributed{trainer_class.__name__}", (DistributedTrainerMixin, trainer_class), {})
