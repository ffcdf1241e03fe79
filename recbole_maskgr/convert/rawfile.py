"""Raw input files, line by line: gzip or plain (told by the content, not the name), with a
progress bar on long files, and one-line errors that name the file and line."""

from __future__ import annotations

import ast
import gzip
import json
import os

GZIP_MAGIC = b"\x1f\x8b"
PROGRESS_MIN_BYTES = 16 << 20  # below this a bar would only flicker
PROGRESS_EVERY_LINES = 20_000


class ConvertError(ValueError):
    """Bad input or output for a converter; the command line prints it as one `error:` line."""


def is_gzip(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def check_readable(path: str, role: str) -> None:
    if not os.path.isfile(path):
        raise ConvertError(f"{role} file '{path}' does not exist (or is not a file).")


def _progress(path: str, desc: str | None):
    from tqdm import tqdm

    size = os.path.getsize(path)
    quiet = desc is None or size < PROGRESS_MIN_BYTES
    return tqdm(total=size, unit="B", unit_scale=True, desc=desc, leave=False,
                disable=True if quiet else None)  # None: only on a terminal


def iter_lines(path: str, desc: str | None = None):
    """(line number, bytes) for every non-blank line of `path`, gunzipped when it is gzip.

    With `desc`, a bar on long files counts the bytes read from disk (so gzip files reach 100% too).
    """
    with open(path, "rb") as raw, _progress(path, desc) as bar:
        stream = gzip.GzipFile(fileobj=raw) if is_gzip(path) else raw
        lineno = 0
        try:
            for lineno, line in enumerate(stream, start=1):
                if lineno % PROGRESS_EVERY_LINES == 0:
                    bar.update(raw.tell() - bar.n)
                if line.strip():
                    yield lineno, line
        except (OSError, EOFError) as err:  # a truncated or corrupt gzip stream
            raise ConvertError(f"'{path}' cannot be read after line {lineno}: {err}.") from err
        bar.update(raw.tell() - bar.n)


def parse_record(line: bytes, path: str, lineno: int) -> dict:
    """One JSON object, or one Python dict literal (Amazon 2014 metadata: single quotes).

    Python literals are read with ast.literal_eval, which evaluates no code.
    """
    try:
        record = json.loads(line)
    except ValueError:
        record = _python_literal(line, path, lineno)
    if not isinstance(record, dict):
        raise ConvertError(f"'{path}' line {lineno} is a {type(record).__name__}, not an object {{...}}.")
    return record


def _python_literal(line: bytes, path: str, lineno: int):
    try:
        return ast.literal_eval(line.decode("utf-8"))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError) as err:
        shown = line[:60].decode("utf-8", "replace").rstrip()
        raise ConvertError(
            f"'{path}' line {lineno} is neither JSON nor a Python dict literal ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else 'unreadable'}); it starts {shown!r}. Is the file "
            "truncated or not an Amazon reviews/metadata file?"
        ) from err


def first_record(path: str) -> dict:
    """The first non-blank line, parsed: what the format is told from."""
    for lineno, line in iter_lines(path):
        return parse_record(line, path, lineno)
    raise ConvertError(f"'{path}' holds no records (it is empty).")
