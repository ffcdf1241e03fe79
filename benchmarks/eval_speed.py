"""Test-split evaluation speed of trained checkpoints, side by side: users/s of a full ranking
(RecBole's evaluate, as a leaderboard times it), median of several rounds, the checkpoints taking
turns in each round so that a busy machine slows every model alike.

    python benchmarks/eval_speed.py --out results/amazon-beauty-eval-speed \
        --checkpoints results/amazon-beauty-runs/saved/MaskGR-<time>.pth,results/amazon-beauty-runs/saved/SASRec-<time>.pth

A leaderboard times each model's test evaluation once, while other models train beside it; this
repeats the measurement on the same weights with the code as it is now. One torch thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import header, markdown_table, write_json  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", required=True, help="comma-separated .pth files")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from recbole_maskgr.files import atomic_write_text, output_file
    from recbole_maskgr.quick_start import get_trainer, load_data_and_model
    from recbole_maskgr.trainer.checkpoint import recorded_locations

    output_file(args.out + ".md", "--out")  # before any loading
    loaded = []
    for path in [p.strip() for p in args.checkpoints.split(",") if p.strip()]:
        # our own runs' checkpoints: their data and SID cache folders are trusted (passed on explicitly)
        config, model, _, _, _, test = load_data_and_model(path, recorded_locations(path))
        loaded.append((path, config["model"], get_trainer(config)(config, model), test))
    seconds = {path: [] for path, *_ in loaded}
    metrics = {}
    for _ in range(args.rounds):
        for path, _, trainer, test in loaded:
            start = time.perf_counter()
            result = trainer.evaluate(test, load_best_model=False)
            seconds[path].append(time.perf_counter() - start)
            metrics[path] = {k: float(v) for k, v in result.items()}
    rows = []
    for path, name, _, test in loaded:
        users = len(test.dataset)  # one row per test user
        median = statistics.median(seconds[path])
        rows.append({"model": name, "checkpoint": os.path.basename(path), "users": users,
                     "median_s": round(median, 2), "users_per_s": round(users / median, 1),
                     "recall@10": metrics[path].get("recall@10"), "ndcg@10": metrics[path].get("ndcg@10")})
    fastest = max(r["users_per_s"] for r in rows)
    for row in rows:
        row["share_of_fastest"] = round(row["users_per_s"] / fastest, 3)
    text = header("Evaluation speed (test split, full ranking)",
                  f"\nMedian of {args.rounds} rounds; the checkpoints take turns within each round; one torch thread.\n")
    text += "\n" + markdown_table(rows, list(rows[0]))
    atomic_write_text(args.out + ".md", text)
    write_json(args.out + ".json", {"rows": rows, "seconds": seconds})
    print(text)


if __name__ == "__main__":
    main()
