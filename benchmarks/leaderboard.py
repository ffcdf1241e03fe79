"""Leaderboard on one dataset (default Amazon Beauty): MaskGR, TIGER, SASRec, BERT4Rec and Pop on
one split, one seed.

    # CPU budget: every model gets the same wall-clock training budget (early stopping allowed)
    python benchmarks/leaderboard.py --budget-minutes 20 --jobs 1
    python benchmarks/leaderboard.py --dataset amazon-sports-outdoors --models MaskGR,TIGER,SASRec,Pop
    # full budget (the paper's scale; for a GPU machine)
    python benchmarks/leaderboard.py --full

Each model runs in its own process (so peak memory is its own), with one torch thread per job.
Writes results/<dataset>.md and results/<dataset>.json (or --out), updated as each model finishes;
when they exist already, results/<dataset>-2.md (-3, ...) unless --overwrite is given. Notes
written by hand below the line `<!-- notes -->` of an existing .md are kept when it is overwritten.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import REPO, SHARED_DATA, header, machine, markdown_table, versions, write_json  # noqa: E402

MODELS = ["MaskGR", "TIGER", "SASRec", "BERT4Rec", "Pop"]
METRICS = ["recall@5", "recall@10", "recall@20", "recall@50", "ndcg@5", "ndcg@10", "ndcg@20", "mrr@10"]
COMMON = {
    "topk": [5, 10, 20, 50],
    "metrics": ["Recall", "NDCG", "MRR"],
    "valid_metric": "NDCG@10",
    "show_progress": False,
    "eval_batch_size": 256,
}
# The paper's reference scale (maskgr-spec.md section 3), for a GPU.
FULL = {
    "MaskGR": {"config_files": ["maskgr-paper"]},  # the paper's recipe, unchanged (properties/presets/)
    "TIGER": {"n_layers": 4, "n_decoder_layers": 4, "inner_size": 1024, "dropout_prob": 0.15, "epochs": 200},
    "SASRec": {"epochs": 300},
    "BERT4Rec": {"epochs": 300},
    "Pop": {"epochs": 1},
}


def run_one(model: str, settings: dict, out_json: str) -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from recbole_maskgr.quick_start import run

    start = time.perf_counter()
    files = settings.pop("config_files", None)  # presets / YAML layers, below the settings themselves
    result = run(model, settings.pop("dataset"), config_file_list=files, config_dict=settings)
    result["wall_s"] = time.perf_counter() - start
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write_json(out_json, result)


def row_of(result: dict) -> dict:
    test = result.get("test_result") or {}
    decode = result.get("decode_stats") or {}
    users = result.get("test_users") or 0
    row = {"model": result["model"]}
    row.update({m: float(test[m]) if m in test else None for m in METRICS})
    row.update(
        parameters=result.get("parameters"),
        train_s=round(result.get("train_time_s", 0.0)),
        epochs=result.get("epochs_trained"),
        eval_users_per_s=round(users / result["test_eval_time_s"], 1) if result.get("test_eval_time_s") else None,
        passes_per_user=round(decode["nfe_per_user"], 1) if decode else 1.0,
        peak_rss_mb=round(result.get("peak_rss_mb", 0.0)),
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--budget-minutes", type=float, default=20.0, help="training budget per model (CPU budget)")
    parser.add_argument("--full", action="store_true", help="the paper's scale, no budget (GPU)")
    parser.add_argument("--data-path", default=SHARED_DATA)
    parser.add_argument("--jobs", type=int, default=1, help="models trained at once (one thread each)")
    parser.add_argument("--dataset", default="amazon-beauty", help="a folder under --data-path")
    parser.add_argument("--out", default=None, help="default results/<dataset>")
    parser.add_argument("--reuse", action="store_true", help="keep models whose result is already in the runs folder")
    parser.add_argument("--overwrite", action="store_true", help="rewrite --out's table, not -2, -3, ...")
    parser.add_argument("--set", action="append", default=[], metavar="MODEL:KEY=VALUE", help="extra setting")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one, json.loads(args.settings), args.result)
        return

    from recbole_maskgr.cli import run_cli

    sys.exit(run_cli(lambda: leaderboard(args)))


def leaderboard(args) -> int:
    from recbole_maskgr.config import known_settings
    from recbole_maskgr.files import output_file
    from recbole_maskgr.results import check_models, claim_table

    models = check_models([m.strip() for m in args.models.split(",") if m.strip()])
    args.out = args.out or os.path.join(REPO, "results", args.dataset)
    output_file(args.out + ".md", "--out")  # before any training
    work = os.path.abspath(args.out + "-runs")  # named after --out itself, so --reuse finds earlier runs
    os.makedirs(work, exist_ok=True)
    settings = {}
    for model in models:
        s = dict(COMMON, dataset=args.dataset, data_path=os.path.abspath(args.data_path),
                 checkpoint_dir=os.path.join(work, "saved"))
        s["sid_cache_dir"] = os.path.join(work, "sid_cache")
        if args.full:
            s.update(FULL.get(model, {}))
        else:
            s["train_budget_s"] = args.budget_minutes * 60
            s["epochs"] = 1000
        for item in args.set:
            target, _, assignment = item.partition(":")
            key, _, value = assignment.partition("=")
            if target == model or (target == "all" and key in known_settings(model, args.dataset)):
                s[key] = json.loads(value) if value[:1] in "[{0123456789-tf" else value
        settings[model] = s

    # MaskGR and TIGER share one SID table: build (or find) it once, before jobs run in parallel.
    sid_models = [m for m in models if m in ("MaskGR", "TIGER")]
    if args.reuse:
        sid_models = [m for m in sid_models if not os.path.isfile(os.path.join(work, f"{m}.json"))]
    if sid_models:
        from recbole_maskgr.config import make_config
        from recbole_maskgr.quick_start import create_dataset

        first = dict(settings[sid_models[0]])
        create_dataset(make_config(sid_models[0], first.pop("dataset"), config_dict=first))

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")

    def launch(model: str):
        out_json = os.path.join(work, f"{model}.json")
        if args.reuse and os.path.isfile(out_json):
            with open(out_json, encoding="utf-8") as handle:
                return model, json.load(handle)
        cmd = [sys.executable, os.path.abspath(__file__), "--one", model, "--settings", json.dumps(settings[model]),
               "--result", out_json]
        with open(os.path.join(work, f"{model}.log"), "w") as log:
            code = subprocess.run(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
        if code != 0 or not os.path.isfile(out_json):
            print(f"{model} failed (exit {code}); see {work}/{model}.log", file=sys.stderr)
            return model, None
        with open(out_json, encoding="utf-8") as handle:
            return model, json.load(handle)

    stem = claim_table(args.out, args.overwrite)
    budget = "full (paper scale)" if args.full else f"CPU budget: {args.budget_minutes:g} min training per model"
    meta = {"dataset": args.dataset, "budget": budget, "jobs": args.jobs, "settings": settings}
    results = {}  # model -> its result, or None when it failed
    write_table(stem, models, results, meta)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for done in as_completed([pool.submit(launch, m) for m in models]):
            model, results[model] = done.result()
            write_table(stem, models, results, meta)  # each model's row is on disk as soon as it is known
    print(write_table(stem, models, results, meta))
    return 0


def write_table(stem: str, models: list[str], results: dict, meta: dict) -> str:
    """`<stem>.md` and `.json` with the rows of the models finished so far; returns the Markdown."""
    from recbole_maskgr.results import write_tables

    finished = {m: r for m, r in results.items() if r is not None}
    rows = [row_of(finished[m]) for m in models if m in finished]
    columns = ["model", *METRICS, "parameters", "train_s", "epochs", "eval_users_per_s", "passes_per_user",
               "peak_rss_mb"]
    status = f"{len(rows)} of {len(models)} models finished"
    for label, names in (("failed", [m for m in models if m in results and m not in finished]),
                         ("still to run", [m for m in models if m not in results])):
        status += f"; {label}: {', '.join(names)}" if names else ""
    text = header(f"{meta['dataset']} leaderboard", f"\n{meta['budget']}; {meta['jobs']} job(s) at once, 1 torch "
                  f"thread each.  \nStatus: {status}\n")
    text += "\n" + markdown_table(rows, columns)
    marker = "<!-- notes -->"
    if os.path.isfile(stem + ".md"):
        with open(stem + ".md", encoding="utf-8") as handle:
            old = handle.read()
        if marker in old:
            text += "\n" + marker + old.split(marker, 1)[1]
    write_tables(stem, text, {"machine": machine(), "versions": versions(), "budget": meta["budget"],
                              "settings": meta["settings"], "rows": rows, "results": finished})
    return text


if __name__ == "__main__":
    main()
