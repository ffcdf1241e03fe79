"""`python -m recbole_maskgr.settings [--check]`: write the YAML layers and docs/settings.md from the
declarations, or (--check) only say which of them are stale."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recbole_maskgr.settings.render import generated_files, stale_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recbole_maskgr.settings", description=__doc__)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2]),
                        help="the source checkout holding properties/ and docs/ (default: this one)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    args = parser.parse_args(argv)
    root = Path(args.root)
    stale = stale_files(root)
    if args.check:
        for path in stale:
            print(f"stale: {path} (regenerate: python -m recbole_maskgr.settings)")
        return 1 if stale else 0
    for path, text in generated_files(root).items():
        if path in stale:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
