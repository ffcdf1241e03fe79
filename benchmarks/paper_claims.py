"""The paper's five claims (arXiv 2511.23021), each checked on our data with one command and a figure.

    python benchmarks/paper_claims.py --claims 3 --budget-minutes 4 --jobs 2     # one claim
    python benchmarks/paper_claims.py --claims 1,2,3,4,5,next-k --reuse          # all; reuse finished runs

1. MaskGR beats TIGER on the same SIDs at equal CPU time (Beauty).
2. The gap grows with K: Recall@K, K = 1..50, beams of 50 (Beauty).
3. The gap grows as training data shrinks: 25% .. 75% of each training sequence dropped.
4. Fewer decoding passes lose little: Recall@10 and users/s against passes 1..H, with TIGER's level.
5. Dense retrieval adds more: the shipped default with and without the dense extension at equal time,
   the dense recipe (layer, schedule) and decoding chosen on validation.
next-k. Joint decoding of the next 2 items (ml-100k) against TIGER decoding twice.

Each claim writes results/paper-claims-runs/claim-<name>.json and a figure under results/figures/;
every run rewrites results/paper-claims.md from the claim files present. Budgets are CPU seconds of
the training process (`train_budget_clock: process`), so a shared machine does not shrink them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.claims import evaluation, next_k, pages, shrink  # noqa: E402
from benchmarks.common import REPO, SHARED_DATA  # noqa: E402

RUNS = os.path.join(REPO, "results", "paper-claims-runs")
FIGURES = os.path.join(REPO, "results", "figures")
COMMON = {
    "topk": [5, 10, 20, 50],
    "metrics": ["Recall", "NDCG"],
    "valid_metric": "NDCG@10",
    "show_progress": False,
    "rank_beyond_beams": True,
    "train_budget_clock": "process",
    "epochs": 1000,
}


def train(model: str, settings: dict, name: str, reuse: bool, runs: str = RUNS) -> dict:
    """One training run in its own process (one torch thread), through the leaderboard's runner."""
    out_json = os.path.join(runs, f"{name}.json")
    if reuse and os.path.isfile(out_json):
        with open(out_json, encoding="utf-8") as handle:
            return json.load(handle)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
    cmd = [sys.executable, os.path.join(REPO, "benchmarks", "leaderboard.py"), "--one", model,
           "--settings", json.dumps(settings), "--result", out_json]
    with open(os.path.join(runs, f"{name}.log"), "w") as log:
        code = subprocess.run(cmd, cwd=runs, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0 or not os.path.isfile(out_json):
        raise RuntimeError(f"{name} failed (exit {code}); see {runs}/{name}.log")
    with open(out_json, encoding="utf-8") as handle:
        return json.load(handle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", default="1,2,3,4,5,next-k")
    parser.add_argument("--budget-minutes", type=float, default=4.0, help="claim 3: CPU minutes per training run")
    parser.add_argument("--shares", default=None, help="claim 3: shares kept, e.g. 1,0.5,0.25 (default: all six)")
    parser.add_argument("--dense-budget-minutes", type=float, default=15.0, help="claim 5: CPU minutes per model")
    parser.add_argument("--next-k-budget-minutes", type=float, default=5.0, help="next-k: CPU minutes per model")
    parser.add_argument("--next-k-dataset", default="ml-100k", help="next-k: ml-100k (RecBole's) or a dataset under --data-path")
    parser.add_argument("--runs", default=RUNS, help="where runs and claim files go")
    parser.add_argument("--page", default=os.path.join(REPO, "results", "paper-claims.md"))
    parser.add_argument("--jobs", type=int, default=2, help="training runs at once (one thread each)")
    parser.add_argument("--data-path", default=SHARED_DATA)
    parser.add_argument("--max-users", type=int, default=5000, help="claims 2 and 4: first N test users")
    parser.add_argument("--leaderboard-runs", default=os.path.join(REPO, "results", "amazon-beauty-runs"),
                        help="claims 1, 2, 4, 5: the 15-minute Beauty leaderboard's runs folder")
    parser.add_argument("--reuse", action="store_true", help="keep runs whose result file exists")
    args = parser.parse_args()
    runs = os.path.abspath(args.runs)
    figures = FIGURES if runs == RUNS else os.path.join(runs, "figures")
    os.makedirs(runs, exist_ok=True)
    os.makedirs(figures, exist_ok=True)

    def train_all(jobs: dict) -> dict:
        """Run name -> (model, settings), trained --jobs at a time -> run name -> result."""
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {name: pool.submit(train, model, settings, name, args.reuse, runs)
                       for name, (model, settings) in jobs.items()}
            return {name: future.result() for name, future in futures.items()}

    context = {"args": args, "runs": runs, "figures": figures, "common": COMMON, "train_all": train_all}
    handlers = {
        "1": evaluation.claim_equal_time,
        "2": evaluation.claim_recall_at_k,
        "3": shrink.claim_less_data,
        "4": evaluation.claim_decoding_steps,
        "5": evaluation.claim_dense_retrieval,
        "next-k": next_k.claim_next_k,
    }
    for name in [c.strip() for c in args.claims.split(",") if c.strip()]:
        if name not in handlers:
            parser.error(f"unknown claim '{name}'; choose from {', '.join(handlers)}")
        result = handlers[name](context)
        result["command"] = "python " + " ".join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])
        with open(os.path.join(runs, f"claim-{name}.json"), "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2, default=str)
        print(f"claim {name}: {result['verdict']} - {result['measured']}", flush=True)
    print(pages.write_claims_page(runs, args.page))


if __name__ == "__main__":
    main()
