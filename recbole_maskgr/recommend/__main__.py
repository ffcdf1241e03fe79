"""Top-k items from a trained checkpoint, for known users or a history typed by hand.

    python -m recbole_maskgr.recommend --checkpoint saved/MaskGR-<time>.pth --users 1,2,3
    python -m recbole_maskgr.recommend --checkpoint saved/SASRec-<time>.pth --history 50,172,133 --k 5
    python -m recbole_maskgr.recommend --checkpoint saved/MaskGR-<time>.pth --users 1 --format json --out top.jsonl

Ids are the raw ids of the dataset files. A user's input is their whole history in the data
(train, valid and test items); a --history is read oldest first. The model sees the last
MAX_ITEM_LIST_LENGTH items of either.
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m recbole_maskgr.recommend", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a checkpoint saved by run_recbole_maskgr.py")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", help="comma-separated raw user ids")
    who.add_argument("--history", help="comma-separated raw item ids, oldest first")
    parser.add_argument("--k", type=int, default=10, help="items per user (default 10)")
    parser.add_argument("--exclude_history", action="store_true", help="never recommend an item of the history")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="table (default) or json: one object per line (user, rank, item, title, score)")
    parser.add_argument("--show_history", action="store_true",
                        help="table only: print the history the model reads, with titles, above each list")
    parser.add_argument("--data_path", help="folder of the dataset's atomic files, if not the default")
    parser.add_argument("--sid_cache_dir", help="the SID cache folder, if not the default")
    parser.add_argument("--out", help="write to this file (atomically) instead of standard output")
    args = parser.parse_args(argv)
    if args.show_history and args.format != "table":
        parser.error("--show_history needs --format table")
    return args


def locations(args) -> dict:
    """Where the data and SID cache are: given here, else the defaults (never the checkpoint's record)."""
    return {key: getattr(args, key) for key in ("data_path", "sid_cache_dir") if getattr(args, key)}


def render(args, users, history) -> str:
    from recbole_maskgr.recommend import output
    from recbole_maskgr.recommend.core import Recommender

    recommender = Recommender(args.checkpoint, locations(args))
    rows = recommender.recommend(users, history, args.k, args.exclude_history)
    if args.format == "json":
        return output.json_lines(rows)
    histories = None
    if args.show_history:
        histories = recommender.histories(users) if users is not None else {"history": history}
    return output.table(rows, histories, recommender.titles, recommender.max_history)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from recbole_maskgr.compat import quiet_recbole_warnings
    from recbole_maskgr.config import ConfigError
    from recbole_maskgr.files import atomic_write_text
    from recbole_maskgr.recommend.catalog import RecommendError, parse_ids
    from recbole_maskgr.recommend.core import check_request
    from recbole_maskgr.recommend.output import check_out_path
    from recbole_maskgr.trainer.checkpoint import CheckpointError

    quiet_recbole_warnings()
    try:
        if args.out:
            check_out_path(args.out)
        users = parse_ids(args.users, "user ids") if args.users is not None else None
        history = parse_ids(args.history, "item ids") if args.history is not None else None
        users, history = check_request(args.checkpoint, users, history, args.k, locations(args))  # before the model loads
        text = render(args, users, history)
    except (RecommendError, ConfigError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.out:
        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
