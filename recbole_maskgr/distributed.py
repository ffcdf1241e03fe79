"""Several training processes through torch DDP, RecBole's way (`--nproc`, `--world_size`, `--ip`,
`--port`, `--group_offset`), plus the few rank questions the rest of the package asks.

Each process gets `local_rank` in its config; `Config` then joins the process group (gloo on CPU,
NCCL on GPU: `compat.init_device`). Global rank 0 alone writes files (logs, checkpoints, tables);
the SID table is built by local rank 0 and read by the others from the cache.
"""

from __future__ import annotations

import errno
import functools
import socket
import sys

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

    from recbole_maskgr.run_log import init_run_logger

    if config["single_spec"] or is_rank_zero():
        init_run_logger(config)  # its own file, also when another run started in the same second
        return
    logging.basicConfig(level=logging.ERROR, handlers=[logging.StreamHandler()], force=True)


def free_port() -> str:
    """A free TCP port on this machine (for tests and single-machine runs)."""
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return str(sock.getsockname()[1])


class WorkerError(ValueError):
    """A DDP process stopped on one of our checks; the message is its one-line error."""


def busy_port_message(port, ip: str) -> str:
    return f"--port={port} is already in use on {ip} (another run?). Pass a free one, e.g. --port={free_port()}."


def check_launch(nproc: int, world_size: int = -1, ip: str = "localhost", port="5678", group_offset: int = 0) -> dict:
    """The launch settings, checked (a one-line error each) before any process starts."""
    from recbole_maskgr.config import ConfigError

    if nproc < 1:
        raise ConfigError(f"--nproc must be a whole number >= 1 (processes on this machine), got {nproc}.")
    world_size = nproc if world_size is None or world_size <= 0 else world_size
    if group_offset < 0 or group_offset + nproc > world_size:
        raise ConfigError(f"--nproc={nproc} with --group_offset={group_offset} does not fit --world_size={world_size}: "
                          "each machine runs nproc processes, numbered from group_offset, below world_size.")
    if not str(port).isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--port must be a TCP port number (1-65535), got '{port}'. Pass e.g. --port=5678.")
    if group_offset == 0:  # this machine runs global rank 0, which listens on the port
        with socket.socket() as sock:
            try:
                sock.bind((ip, int(port)))
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    raise ConfigError(busy_port_message(port, ip)) from None
    return {"nproc": nproc, "world_size": world_size, "ip": ip, "port": str(port), "group_offset": group_offset}


def launch(target, nproc: int, args: tuple = (), world_size: int = -1, ip: str = "localhost",
           port: str = "5678", group_offset: int = 0):
    """Run `target(settings, *args)` in `nproc` new processes and return what global rank 0's returned.

    `settings` holds RecBole's DDP keys (local_rank, world_size, ip, port, nproc, offset) for the
    target to merge into its `config_dict`. `world_size` counts the processes of all machines
    (default: `nproc`, one machine); `group_offset` is the global rank of this machine's first one.
    A process stopped by one of our checks ends the launch with WorkerError (its message).
    """
    import torch.multiprocessing as mp

    launch_settings = check_launch(nproc, world_size, ip, port, group_offset)
    queue = mp.get_context("spawn").SimpleQueue()
    shared = dict(launch_settings, offset=launch_settings.pop("group_offset"))
    try:
        mp.spawn(_run_rank, args=(target, shared, args, queue), nprocs=nproc, join=True)
    except mp.ProcessExitedException:
        errors = [payload for kind, payload in _drain(queue) if kind == "error"]
        if errors:
            raise WorkerError(errors[0]) from None
        raise
    results = [payload for kind, payload in _drain(queue) if kind == "result"]
    return results[0] if results else None


def _drain(queue) -> list:
    items = []
    while not queue.empty():
        items.append(queue.get())
    return items


def _run_rank(local_rank: int, target, shared: dict, args: tuple, queue) -> None:
    """One process: run the target, hand rank 0's answer (or our error's message) back, leave the group."""
    from recbole_maskgr.compat import quiet_recbole_warnings
    from recbole_maskgr.config import ConfigError
    from recbole_maskgr.trainer.checkpoint import CheckpointError

    quiet_recbole_warnings()  # a new process: the parent's warning filters are not inherited
    try:
        result = target(dict(shared, local_rank=local_rank), *args)
        if is_rank_zero():
            queue.put(("result", result))
    except (ConfigError, CheckpointError, ValueError) as err:  # one line in the launcher, no traceback
        queue.put(("error", " ".join([str(err), *getattr(err, "__notes__", [])])))
        sys.exit(2)
    except RuntimeError as err:  # the port was taken after the launcher's check
        if "EADDRINUSE" not in str(err):
            raise
        queue.put(("error", busy_port_message(shared["port"], shared["ip"])))
        sys.exit(2)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
