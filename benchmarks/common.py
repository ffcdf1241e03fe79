"""Shared bits of the benchmark scripts: machine description, versions, result files."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "datasets")


def dataset_data_path(data_path: str, dataset: str) -> str | None:
    """`data_path` (absolute) when it holds `dataset`, else None: datasets outside it (e.g. ml-100k,
    shipped with RecBole) use their dataset config's path."""
    return os.path.abspath(data_path) if os.path.isdir(os.path.join(data_path, dataset)) else None


def versions() -> dict:
    import recbole
    import torch

    return {"python": platform.python_version(), "recbole": recbole.__version__, "torch": torch.__version__}


def machine() -> str:
    from recbole_maskgr.quick_start import machine_description

    return machine_description()


def command_line() -> str:
    """The command as a shell would take it again (arguments with spaces quoted)."""
    return "python " + shlex.join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])


def write_json(path: str, payload: dict) -> None:
    """Atomically: a benchmark killed while writing leaves the previous file whole."""
    from recbole_maskgr.files import atomic_write_text

    atomic_write_text(path, json.dumps(payload, indent=2, default=str))


def header(title: str, extra: str = "") -> str:
    return (
        f"# {title}\n\nCommand: `{command_line()}`  \nMachine: {machine()}  \n"
        f"Versions: {versions()}  \nDate: {time.strftime('%Y-%m-%d %H:%M')}\n{extra}\n"
    )


def markdown_table(rows: list[dict], columns: list[str], digits: int = 4) -> str:
    def cell(value):
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"
