"""Shims that let RecBole 1.2.1 run on numpy 2 and run DDP on a CPU.

RecBole's ``Config.compatibility_settings`` reads ``np.float_``, ``np.complex_`` and
``np.unicode_`` (removed in numpy 2), and ray reads ``np.bool8``. We restore those four
aliases, and only when they are missing. RecBole's ``Config._init_device`` hard-codes the NCCL
backend and a CUDA device for every DDP process; ``init_device`` is the same function with gloo
on CPU. Checkpoint loading on torch >= 2.6 is handled by our own trainer
(``recbole_maskgr.trainer.checkpoint``), which never needs pickles.
"""

import os

import numpy as np

_NUMPY_ALIASES = {
    "float_": "float64",
    "complex_": "complex128",
    "unicode_": "str_",
    "bool8": "bool_",
}


def apply_numpy_aliases() -> None:
    """Add the removed numpy aliases RecBole still reads; idempotent."""
    for alias, target in _NUMPY_ALIASES.items():
        if not hasattr(np, alias):
            setattr(np, alias, getattr(np, target))


# (message regex, module regex) of the FutureWarnings RecBole 1.2.1 triggers on every run
RECBOLE_NOISE = (
    # `feat[field].fillna(..., inplace=True)` in its dataset module (pandas >= 2.2)
    (r"A value is trying to be set on a copy of a DataFrame or Series through chained assignment "
     r"using an inplace method", r"recbole\.data\.dataset\.dataset$"),
    # `np.cumsum(feat[field].agg(len))` when it splits token sequences (pandas >= 2.1)
    (r"using <built-in function len> in Series\.agg cannot aggregate", r"recbole\.data\.dataset\.dataset$"),
    # `amp.GradScaler(enabled=...)` in its trainer (torch >= 2.4)
    (r"`torch\.cuda\.amp\.GradScaler\(args\.\.\.\)` is deprecated", r"recbole\.trainer\.trainer$"),
)


def quiet_recbole_warnings() -> None:
    """Hide exactly RecBole's own FutureWarnings above (raised in RecBole's modules), nothing else:
    other warnings, and the same warnings from other code, stay visible. Idempotent; every entry
    point calls it (command lines, DDP workers, `quick_start`)."""
    import warnings

    for message, module in RECBOLE_NOISE:
        warnings.filterwarnings("ignore", message=message, category=FutureWarning, module=module)


def init_device(settings: dict) -> None:
    """RecBole's `Config._init_device` on `settings` (its final config dict), DDP included: NCCL and
    `cuda:<local_rank>` when CUDA is usable, else gloo on CPU (RecBole always asks for NCCL)."""
    import torch
    import torch.distributed as dist

    gpu_id = settings["gpu_id"]
    gpu_id = ",".join(map(str, gpu_id)) if isinstance(gpu_id, (tuple, list)) else str(gpu_id)
    settings["gpu_id"] = gpu_id
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu_id
    cuda = bool(gpu_id) and settings.get("use_gpu", True) is not False and torch.cuda.is_available()
    if "local_rank" not in settings:  # one process
        settings.update(single_spec=True, local_rank=0, device=torch.device("cuda" if cuda else "cpu"))
        return
    local_rank, nproc = int(settings["local_rank"]), int(settings["nproc"])
    if cuda and len(gpu_id.split(",")) < nproc:
        raise ValueError(f"--nproc={nproc} needs {nproc} GPUs listed in gpu_id, got '{gpu_id}': "
                         f"pass e.g. --gpu_id={','.join(map(str, range(nproc)))}, or --use_gpu=False for CPU.")
    if not dist.is_initialized():  # a leaderboard builds one Config per model in the same group
        dist.init_process_group(
            backend="nccl" if cuda else "gloo",
            rank=local_rank + int(settings["offset"]),
            world_size=int(settings["world_size"]),
            init_method=f"tcp://{settings['ip']}:{settings['port']}",
        )
    settings.update(single_spec=False, device=torch.device("cuda", local_rank) if cuda else torch.device("cpu"))
    if cuda:
        torch.cuda.set_device(local_rank)
    if dist.get_rank() != 0:  # one process speaks, as in RecBole
        settings.update(state="error", show_progress=False, verbose=False)
