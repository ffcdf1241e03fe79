"""Atomic file writes shared by checkpoints, SID caches and recommendation lists: a crash never
leaves half a file."""

from __future__ import annotations

import os
import tempfile

import torch


def atomic_write(path: str, write, suffix: str, mode: int | None = None) -> None:
    """`write(binary handle)` into a temporary file next to `path`, fsync, then rename over `path`.

    The file keeps mkstemp's owner-only permissions unless `mode` is given."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_save(obj, path: str) -> None:
    """torch.save, atomically."""
    atomic_write(path, lambda handle: torch.save(obj, handle), ".pth")


def atomic_write_text(text: str, path: str) -> None:
    """UTF-8 text, atomically, readable by all (rw-r--r--) as an ordinary output file."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")), ".txt", mode=0o644)
