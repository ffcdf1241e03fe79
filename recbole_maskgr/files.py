"""Atomic file writes shared by checkpoints and SID caches: a crash never leaves half a file."""

from __future__ import annotations

import os
import tempfile

import torch


def atomic_save(obj, path: str) -> None:
    """torch.save to a temporary file next to `path`, fsync, then rename over `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pth", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
