"""Atomic file writes shared by checkpoints and SID caches: a crash never leaves half a file."""

from __future__ import annotations

import os
import tempfile

import torch


class WriteFailed(OSError):
    """The system refused a write (disk full, file-size limit, no permission); `path` is unchanged."""


def os_error_behind(err: BaseException) -> OSError | None:
    """The OSError that caused `err` (torch reports a failed write as a RuntimeError over it), or None."""
    while err is not None and not isinstance(err, OSError):
        err = err.__cause__ or err.__context__
    return err


def atomic_save(obj, path: str) -> None:
    """torch.save to a temporary file next to `path`, fsync, then rename over `path`.

    A write the system refuses raises one WriteFailed (errno and reason of the OSError behind it)."""
    try:
        _atomic_save(obj, path)
    except Exception as err:
        cause = os_error_behind(err)
        if cause is None:
            raise
        raise WriteFailed(cause.errno, cause.strerror or str(cause), path) from None


def _atomic_save(obj, path: str) -> None:
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
