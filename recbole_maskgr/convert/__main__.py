"""python -m recbole_maskgr.convert amazon --reviews FILE [--meta FILE] --out DATA_PATH/NAME

Writes DATA_PATH/NAME/NAME.inter (and NAME.item with --meta) from Amazon 2014 or 2023 review
files, gzip or plain; the release is told from the content. Then train with
`python run_recbole_maskgr.py --dataset=NAME --data_path=DATA_PATH`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone


def unix_time(text: str) -> float:
    """Unix seconds, or a date / date-time in ISO form (UTC), e.g. 2014-01-01."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is neither unix seconds nor a date like 2014-01-01") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m recbole_maskgr.convert", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    sources = top.add_subparsers(dest="source", required=True)
    amazon = sources.add_parser("amazon", help="Amazon reviews, 2014 or 2023 release")
    amazon.add_argument("--reviews", required=True, help="reviews file (.json or .json.gz / .jsonl(.gz))")
    amazon.add_argument("--meta", help="item metadata file; without it no NAME.item is written")
    amazon.add_argument("--out", required=True, help="DATA_PATH/NAME: the dataset folder (NAME names the files)")
    amazon.add_argument("--kcore", type=int, help="keep users and items with at least N interactions, iteratively")
    amazon.add_argument("--min_time", type=unix_time, help="keep reviews at or after this time (unix s or a date)")
    amazon.add_argument("--max_time", type=unix_time, help="keep reviews at or before this time (unix s or a date)")
    amazon.add_argument("--overwrite", action="store_true", help="replace existing NAME.inter / NAME.item")
    return top


def main(argv=None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    from recbole_maskgr.convert.amazon import TimeWindow
    from recbole_maskgr.convert.pipeline import Options, convert, report
    from recbole_maskgr.convert.rawfile import ConvertError

    options = Options(args.reviews, args.out, args.meta, args.kcore, TimeWindow(args.min_time, args.max_time),
                      args.overwrite)
    try:
        counts = convert(options)
    except ConvertError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
