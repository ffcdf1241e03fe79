"""Writing RecBole atomic files from converted data: text made safe for a tab-separated file with
no quoting, floats written exactly, both files in place only once both are complete."""

from __future__ import annotations

import contextlib
import math
import os

from recbole_maskgr.convert.rawfile import ConvertError
from recbole_maskgr.files import atomic_file

# Tab and line breaks would split a field or a row; NUL stops Python's csv reader. Nothing else is touched.
_UNSAFE = {ord("\t"): " ", ord("\n"): " ", ord("\r"): " ", 0: " "}


def safe_text(value) -> str:
    """A field value for an atomic file: None -> "", tabs and line breaks -> spaces, the rest kept."""
    return "" if value is None else str(value).translate(_UNSAFE)


def format_float(value: float) -> str:
    """Shortest text that reads back as the same float; whole numbers without '.0'; NaN -> empty."""
    if value is None or math.isnan(value):
        return ""
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(float(value))


def output_paths(out: str) -> tuple[str, str]:
    """`--out DATA_PATH/NAME` -> (DATA_PATH/NAME/NAME.inter, DATA_PATH/NAME/NAME.item)."""
    folder = os.path.normpath(out)
    name = os.path.basename(folder)
    if not name or name in (".", ".."):
        raise ConvertError(f"--out '{out}' must end in the dataset name, e.g. --out data/amazon-beauty.")
    return os.path.join(folder, f"{name}.inter"), os.path.join(folder, f"{name}.item")


def refuse_overwrite(paths, overwrite: bool) -> None:
    existing = [path for path in paths if os.path.exists(path)]
    if existing and not overwrite:
        raise ConvertError(
            f"'{existing[0]}' already exists; pass --overwrite to replace it, or choose another --out."
        )


def write_files(tables: dict) -> None:
    """Write {path: (header, rows)} so that no path is replaced until every file is complete."""
    with contextlib.ExitStack() as stack:
        for path, (header, rows) in tables.items():
            handle = stack.enter_context(atomic_file(path, "w", encoding="utf-8", newline="\n"))
            handle.write("\t".join(header) + "\n")
            for row in rows:
                handle.write("\t".join(row) + "\n")
