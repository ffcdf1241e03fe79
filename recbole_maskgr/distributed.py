"""Several training processes through torch DDP, RecBole's way (`--nproc`, `--world_size`, `--ip`,
`--port`, `--group_offset`), plus the few rank questions the rest of the package asks.

Each process gets `local_rank` in its config; `Config` then joins the process group (gloo on CPU,
NCCL on GPU: `compat.init_device`). Global rank 0 alone writes files (logs, checkpoints, tables);
the SID table is built by local rank 0 and read by the others from the cache.
"""

from __future__ import annotations

import functools
import socket

import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_rank_zero() -> bool:
    """True in the one process that writes files (also when there is no process group)."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def broadcast_object(value):
    """Rank 0's `value` in every process (e.g. the checkpoint name rank 0 claimed)."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def local_rank_zero_first(method):
    """Run `method` in each machine's local rank 0 first, then in the other processes: they find
    its result in the on-disk cache instead of recomputing it (used for the SID table)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not is_distributed():
            return method(self, *args, **kwargs)
        first = int(self.config["local_rank"]) == 0
        if not first:
            dist.barrier()  # wait until local rank 0 has written the cache
        try:
            return method(self, *args, **kwargs)
        finally:
            if first:
                dist.barrier()

    return wrapper


def init_logger(config) -> None:
    """RecBole's logger (console + `log/` file) in rank 0; the console alone elsewhere, so other ranks
    write no log files (their level is already `error`, see `compat.init_device`)."""
    import logging

    from recbole.utils import init_logger as recbole_init_logger

    if config["single_spec"] or is_rank_zero():
        recbole_init_logger(config)
        return
    logging.basicConfig(level=logging.ERROR, handlers=[logging.StreamHandler()], force=True)


def free_port() -> str:
    """A free TCP port on this machine (for tests and single-machine runs)."""
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return str(sock.getsockname()[1])


def launch(target, nproc: int, args: tuple = (), world_size: int = -1, ip: str = "localhost",
           port: str = "5678", group_offset: int = 0):
    """Run `target(settings, *args)` in `nproc` new processes and return what global rank 0's returned.

    `settings` holds RecBole's DDP keys (local_rank, world_size, ip, port, nproc, offset) for the
    target to merge into its `config_dict`. `world_size` counts the processes of all machines
    (default: `nproc`, one machine); `group_offset` is the global rank of this machine's first one.
    """
    import torch.multiprocessing as mp

    world_size = nproc if world_size is None or world_size <= 0 else world_size
    if nproc < 1 or group_offset + nproc > world_size:
        raise ValueError(f"--nproc={nproc} with --group_offset={group_offset} does not fit --world_size={world_size}: "
                         "each machine runs nproc processes, numbered from group_offset, below world_size.")
    queue = mp.get_context("spawn").SimpleQueue()
    shared = {"world_size": world_size, "ip": ip, "port": str(port), "nproc": nproc, "offset": group_offset}
    mp.spawn(_run_rank, args=(target, shared, args, queue), nprocs=nproc, join=True)
    return None if queue.empty() else queue.get()


def _run_rank(local_rank: int, target, shared: dict, args: tuple, queue) -> None:
    """One process: run the target, hand rank 0's answer back, leave the process group."""
    from recbole_maskgr.compat import quiet_recbole_warnings

    quiet_recbole_warnings()  # a new process: the parent's warning filters are not inherited
    try:
        result = target(dict(shared, local_rank=local_rank), *args)
        if is_rank_zero():
            queue.put(result)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def run_model(settings: dict, model: str, dataset: str, config_files, config_dict, cmd_args, resume=None):
    """Launch target: one model, as `quick_start.run` (rank 0's result dict comes back)."""
    from recbole_maskgr import quick_start

    merged = dict(config_dict or {}, **settings)
    return quick_start.run(model, dataset, config_files, merged, cmd_args, resume=resume)


def run_leaderboard(settings: dict, models, dataset: str, config_files, config_dict, cmd_args, results_dir, command):
    """Launch target: a leaderboard; only rank 0 writes its table."""
    from recbole_maskgr import quick_start

    merged = dict(config_dict or {}, **settings)
    return quick_start.leaderboard(models, dataset, config_files, merged, cmd_args,
                                   results_dir=results_dir, command=command)
