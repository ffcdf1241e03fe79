"""Files we write: atomic writes (a crash never leaves half a file; checkpoints, SID caches, tables,
converted datasets), names claimed per run, output folders checked before long work, and the
temporary files of killed runs swept up. Imports no torch at module level (the converter is light)."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import socket
import tempfile
import time

TEMP_PREFIX = ".tmp-"
# .tmp-<host>-<pid>-<random><suffix> (this release) or .tmp-<random>.pth (older releases)
_TEMP_NAME = re.compile(r"^\.tmp-(?:(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-)?[A-Za-z0-9_]{8}(?:\.[A-Za-z0-9]+)?$")
LEGACY_TEMP_AGE_S = 3600  # an old-style temp name says nothing about its writer: wait an hour
# what a checkpoint name holds between its claim and the run's first save: who claimed it, so that
# the placeholder of a run killed before that save (kill -9) is swept at the next start
PLACEHOLDER = b"recbole_maskgr placeholder"
_PLACEHOLDER = re.compile(r"^recbole_maskgr placeholder host=(?P<host>[A-Za-z0-9_]+) pid=(?P<pid>\d+)\n$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:32] or "host"


@contextlib.contextmanager
def atomic_file(path: str, mode: str = "wb", **open_args):
    """Yield a handle on a temporary file next to `path`; on success fsync and rename it over `path`.

    On any exception the temporary file is removed and `path` is left as it was.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{_host()}-{os.getpid()}-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, mode, **open_args) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # as a plain open() would leave it (mkstemp makes it private)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class WriteFailed(OSError):
    """The system refused a write (disk full, file-size limit, no permission); `path` is unchanged."""


def os_error_behind(err: BaseException) -> OSError | None:
    """The OSError that caused `err` (torch reports a failed write as a RuntimeError over it), or None."""
    while err is not None and not isinstance(err, OSError):
        err = err.__cause__ or err.__context__
    return err


def atomic_save(obj, path: str) -> None:
    """torch.save, atomically. A write the system refuses raises one WriteFailed (errno and reason of
    the OSError behind it), not torch's chain of tracebacks."""
    import torch

    try:
        with atomic_file(path) as handle:
            torch.save(obj, handle)
    except Exception as err:
        cause = os_error_behind(err)
        if cause is None:
            raise
        raise WriteFailed(cause.errno, cause.strerror or str(cause), path) from None


def atomic_write_text(path: str, text: str) -> None:
    """A UTF-8 text file (a results table), atomically."""
    with atomic_file(path) as handle:
        handle.write(text.encode("utf-8"))


def placeholder_marker() -> bytes:
    """The content of a name this process claims (see PLACEHOLDER)."""
    return PLACEHOLDER + f" host={_host()} pid={os.getpid()}\n".encode()


def is_placeholder(path: str) -> bool:
    """Whether `path` is a claimed name no checkpoint was saved under yet (empty, or a marker)."""
    try:
        if os.path.getsize(path) > 256:
            return False
        with open(path, "rb") as handle:
            content = handle.read()
    except OSError:
        return False
    return content == b"" or content.startswith(PLACEHOLDER)


def _writer_gone(host, pid, path: str) -> bool:
    """Whether the run that wrote this temporary file (or placeholder) has ended (so it is litter)."""
    if pid is None:
        return time.time() - os.path.getmtime(path) > LEGACY_TEMP_AGE_S
    if host != _host():
        return False  # a run on another machine sharing the folder: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def clean_stale_temps(*folders) -> list[str]:
    """Delete our temporary files (`.tmp-...`) and checkpoint placeholders whose writing run was
    killed; only in `folders`."""
    removed = []
    for folder in filter(None, folders):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            try:
                match = _TEMP_NAME.match(name) or (name.endswith(".pth") and _placeholder_match(path))
                if match and os.path.isfile(path) and _writer_gone(match.group("host"), match.group("pid"), path):
                    os.remove(path)
                    removed.append(path)
            except OSError:
                continue  # gone meanwhile, or not ours to remove
    return removed


def _placeholder_match(path: str):
    """The claimer of a placeholder file (regex match with host and pid), or None."""
    if os.path.getsize(path) > 256:
        return None
    with open(path, "rb") as handle:
        return _PLACEHOLDER.match(handle.read().decode("ascii", errors="replace"))


def try_claim(path: str, content: bytes = b"") -> bool:
    """Create `path` (holding `content`) if nobody has it (atomic, O_EXCL): True when this process now
    owns the name."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    return True


def claim_name(path: str, taken=lambda candidate: False, content: bytes = b"") -> str:
    """`path`, or `<stem>-2<ext>`, `-3`, ... : the first name nobody has, claimed with `try_claim` (a
    file holding `content`, which the caller then replaces). `taken(candidate)` marks names in use by
    other means (e.g. a sibling file of the same run)."""
    stem, ext = os.path.splitext(str(path))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    for number in itertools.count(1):
        candidate = str(path) if number == 1 else f"{stem}-{number}{ext}"
        if not taken(candidate) and try_claim(candidate, content):
            return candidate
    raise AssertionError("unreachable")


def _folder_problem(path: str) -> str | None:
    """Why `path` cannot be a folder we write to (created later if missing), or None; creates nothing."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):  # the nearest part that exists must be a writable folder
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        return "it is a file, not a folder" if probe == os.path.abspath(path) else f"'{probe}' is a file"
    return None if os.access(probe, os.W_OK | os.X_OK) else f"'{probe}' is not writable"


def output_dir(path: str, option: str) -> str:
    """Check the folder `option` names before long work (it may not exist yet)."""
    from recbole_maskgr.config import ConfigError

    problem = _folder_problem(path)
    if problem:
        raise ConfigError(f"{option} '{path}' cannot be used: {problem}. Name a writable folder (it is "
                          "created if missing).")
    return path


def output_file(path: str, option: str) -> str:
    """Check a file `option` will write, before long work (its folder may not exist yet)."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        problem = "it is a folder"
    else:
        problem = _folder_problem(folder)
        problem = problem and f"its folder '{folder}': {problem}"
    if problem:
        from recbole_maskgr.config import ConfigError

        raise ConfigError(f"{option} '{path}' cannot be written: {problem}. Name a file in a writable folder.")
    return path
