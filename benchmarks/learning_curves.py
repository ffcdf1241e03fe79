"""Learning curves: validation quality against training time and steps, one line per variant.

    python benchmarks/learning_curves.py --dataset amazon-beauty --variants maskgr-paper,maskgr-clean \
        --budget-minutes 15 --eval-every-minutes 2.5 --jobs 2

A variant is a small YAML under benchmarks/variants/ (`model:` plus settings). Each runs in its own
process with one torch thread, trains for a budget in CPU seconds of that process (`--clock process`,
the default: a shared machine stretches the wall time but not the budget; `--clock wall` for the
old wall-clock budgets; evaluation time is never counted), and
every `--eval-every-minutes` of training or `--eval-every` optimizer steps (and when the budget is spent) records validation Recall@10 /
NDCG@10 two ways:
- one-pass: every validation user; MaskGR scores every item by its one-pass marginals, SASRec &
  co. by their full sort; TIGER has no one-pass ranking (left empty);
- beam: a fixed random sample of `--beam-users` validation users (the same for every variant),
  ranked by the model's own test-time decoding (MaskGR / TIGER beam search, full sort otherwise).
Writes results/learning-curves-<dataset>.{md,json,png}; finished variants are kept in
results/learning-curves-<dataset>-runs/ and reused with --reuse.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    REPO,
    SHARED_DATA,
    command_line,
    dataset_data_path,
    header,
    machine,
    markdown_table,
    versions,
    write_json,
)

from recbole_maskgr.files import atomic_write_text  # noqa: E402
from recbole_maskgr.trainer.epochs import BUDGET_CLOCKS  # noqa: E402

VARIANTS_DIR = os.path.join(REPO, "benchmarks", "variants")
SID_MODELS = ("MaskGR", "TIGER")
EVAL = {"topk": [10], "metrics": ["Recall", "NDCG"], "valid_metric": "NDCG@10", "show_progress": False}


class BudgetSpent(Exception):
    """Raised between optimizer steps once the training clock passes the budget."""


def load_variant(name: str) -> dict:
    path = os.path.join(VARIANTS_DIR, f"{name}.yaml")
    if not os.path.isfile(path):
        known = sorted(f[:-5] for f in os.listdir(VARIANTS_DIR) if f.endswith(".yaml"))
        raise SystemExit(f"error: no variant '{name}' ({path} is missing); known: {', '.join(known)}")
    with open(path, encoding="utf-8") as handle:
        settings = yaml.safe_load(handle) or {}
    if not isinstance(settings, dict) or "model" not in settings:
        raise SystemExit(f"error: {path} must be a mapping with a 'model:' key")
    return settings


def sample_loader(config, loader, n_users: int, seed: int = 0):
    """The same evaluation loader over a fixed random sample of its users (rows: one per user)."""
    import numpy as np
    from recbole.data.utils import get_dataloader

    dataset = loader._dataset
    rows = len(dataset)
    keep = np.sort(np.random.default_rng(seed).choice(rows, size=min(n_users, rows), replace=False))
    subset = dataset.copy(dataset.inter_feat[keep])
    return get_dataloader(config, "valid")(config, subset, loader._sampler, shuffle=False)


def evaluate_point(trainer, model, valid_all, valid_sample) -> dict:
    """One-pass metrics on every validation user and test-time decoding on the sample.

    SID models decode by their validation spec with the mode swapped in (marginal, item, beam);
    other models (no `specs`) rank the full catalogue as RecBole does."""
    specs = getattr(model, "specs", None)

    def evaluate(loader, mode):
        options = {} if specs is None else {"spec": replace(specs["valid"], mode=mode)}
        result = trainer.evaluate(loader, load_best_model=False, **options)
        return {k: float(v) for k, v in result.items()}

    point = {}
    start = time.perf_counter()
    if specs is None or "marginal" in model.decoding_modes:
        point["one_pass"] = evaluate(valid_all, "marginal")
    point["one_pass_s"] = time.perf_counter() - start
    if getattr(model, "item_head", None) is not None:  # MaskGR's item-level softmax, one pass
        point["item"] = evaluate(valid_all, "item")
    start = time.perf_counter()
    point["beam"] = evaluate(valid_sample, "beam")
    point["beam_s"] = time.perf_counter() - start
    model.train()
    return point


def run_variant(name: str, settings: dict, args_json: dict, out_json: str) -> None:
    """Train one variant for its budget, evaluating every N steps; write its curve to out_json."""
    import torch

    torch.set_num_threads(1)
    from recbole_maskgr.config import make_config
    from recbole_maskgr.quick_start import build, count_parameters

    model_name = settings.pop("model")
    settings.update(EVAL, checkpoint_dir=args_json["checkpoint_dir"])
    if args_json["data_path"]:
        settings["data_path"] = args_json["data_path"]
    settings.setdefault("sid_cache_dir", args_json["sid_cache_dir"])
    settings.setdefault("epochs", 1000)  # the budget ends training; a long nominal schedule keeps the LR flat
    config = make_config(model_name, args_json["dataset"], config_dict=settings)
    _, (train_data, valid_data, _), model, trainer = build(config, log=False)
    valid_sample = sample_loader(config, valid_data, args_json["beam_users"])
    budget_s, every, every_s = args_json["budget_s"], args_json["eval_every"], args_json["eval_every_s"]
    now = BUDGET_CLOCKS[args_json.get("clock", "wall")]
    curve, clock = [], {"trained": 0.0, "since": now(), "step": 0, "epoch": 0, "loss": []}

    def write_result(partial: bool):
        atomic_write_text(out_json, json.dumps({
            "variant": name, "model": model_name, "command": args_json.get("command"), "partial": partial,
            "checkpoint": None if partial else trainer.saved_model_file,
            "settings": settings, "budget_s": budget_s, "clock": args_json.get("clock", "wall"),
            "eval_every": every, "eval_every_s": every_s, "beam_users": len(valid_sample.dataset),
            "parameters": count_parameters(model), "curve": curve}, indent=2, default=str))

    def record():
        clock["trained"] += now() - clock["since"]
        losses = clock["loss"]
        point = {"step": clock["step"], "epoch": clock["epoch"], "train_s": clock["trained"],
                 "train_loss": sum(losses) / len(losses) if losses else None}
        model.eval()
        point.update(evaluate_point(trainer, model, valid_data, valid_sample))
        curve.append(point)
        write_result(partial=True)  # a run stopped later keeps its points so far
        clock["loss"] = []
        one = (point.get("one_pass") or {}).get("recall@10")
        item = (point.get("item") or {}).get("recall@10")
        print(f"[{name}] step {point['step']} ({point['train_s'] / 60:.1f} min, epoch {point['epoch']}): "
              f"one-pass R@10 {one if one is None else round(one, 4)}, beam R@10 {point['beam']['recall@10']:.4f}"
              f", item R@10 {item if item is None else round(item, 4)}", flush=True)
        clock["since"] = now()

    def loss_with_clock(interaction):
        trained = clock["trained"] + now() - clock["since"]
        if trained >= budget_s:
            raise BudgetSpent()
        due = every and clock["step"] and clock["step"] % every == 0
        due = due or (every_s and trained >= (len(curve) + 1) * every_s)
        if due and (not curve or curve[-1]["step"] != clock["step"]):
            record()
        clock["step"] += 1
        loss = model.calculate_loss(interaction)
        clock["loss"].append(float(loss.detach()))
        return loss

    try:
        for epoch in range(int(config["epochs"])):
            clock["epoch"] = epoch
            trainer._train_epoch(train_data, epoch, loss_func=loss_with_clock)
            clock["epoch"] = epoch + 1
    except BudgetSpent:
        pass
    record()
    trainer._claim_files()  # the final weights, for decoding sweeps on the same validation users
    trainer._save_checkpoint(clock["epoch"], verbose=False)
    write_result(partial=False)


def finished(path: str) -> bool:
    """A variant's result file that a whole run wrote (not the points of a run that was stopped)."""
    if not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8") as handle:
        return not json.load(handle).get("partial", False)


def summary_row(result: dict) -> dict:
    curve = result["curve"]
    last = curve[-1]
    best_one = max((p["one_pass"]["recall@10"] for p in curve if p.get("one_pass")), default=None)
    best_beam = max(p["beam"]["recall@10"] for p in curve)
    return {
        "variant": result["variant"] + (" (stopped early)" if result.get("partial") else ""),
        "model": result["model"], "clock": result.get("clock", "wall"),
        "parameters": result["parameters"],
        "steps": last["step"], "epochs": last["epoch"], "train_min": round(last["train_s"] / 60, 1),
        "final one-pass R@10": (last.get("one_pass") or {}).get("recall@10"),
        "final one-pass N@10": (last.get("one_pass") or {}).get("ndcg@10"),
        "final beam R@10": last["beam"]["recall@10"], "final beam N@10": last["beam"]["ndcg@10"],
        "best one-pass R@10": best_one, "best beam R@10": best_beam,
        "final item R@10": (last.get("item") or {}).get("recall@10"),
        "final item N@10": (last.get("item") or {}).get("ndcg@10"),
    }


def plot(results: list[dict], path: str, title: str) -> None:
    """Rows: test-time decoding (beam sample), one-pass over all users, and (when a variant has one)
    MaskGR's item head over all users with the item-ID models' full sort beside it; by minutes and steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_item = any(p.get("item") for r in results for p in r["curve"])
    rows = 3 if has_item else 2
    fig, axes = plt.subplots(rows, 2, figsize=(13, 4.5 * rows), sharey="row")
    colours = plt.get_cmap("tab20").colors
    for index, result in enumerate(results):
        curve = result["curve"]
        x = {0: [p["train_s"] / 60 for p in curve], 1: [p["step"] for p in curve]}
        item_model = result["model"] not in SID_MODELS  # its one-pass ranking is its item ranking
        series = [[p["beam"]["recall@10"] for p in curve],
                  [(p.get("one_pass") or {}).get("recall@10") for p in curve],
                  [((p.get("one_pass") if item_model else p.get("item")) or {}).get("recall@10") for p in curve]]
        style = {"linestyle": "--" if result["model"] != "MaskGR" else "-", "marker": "o", "markersize": 3,
                 "color": colours[index % len(colours)]}
        for row in range(rows):
            if any(v is not None for v in series[row]):
                for col in (0, 1):
                    axes[row, col].plot(x[col], series[row][:len(x[col])], label=result["variant"], **style)
    for col, xlabel in enumerate(["training minutes (evaluation not counted)", "optimizer steps"]):
        axes[rows - 1, col].set_xlabel(xlabel)
    beam_users = results[0]["beam_users"] if results else 0
    axes[0, 0].set_ylabel(f"valid Recall@10, test-time decoding\n({beam_users} sampled users)")
    axes[1, 0].set_ylabel("valid Recall@10, one-pass\n(all users; none for TIGER)")
    if has_item:
        axes[2, 0].set_ylabel("valid Recall@10, item ranking, all users\n(MaskGR's item head; SASRec's full sort)")
        axes[2, 0].legend(fontsize=8, loc="upper left")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc="upper left", ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="amazon-beauty")
    parser.add_argument("--variants", default="", help="comma-separated names under benchmarks/variants/")
    parser.add_argument("--budget-minutes", type=float, default=15.0, help="training time per variant")
    parser.add_argument("--clock", choices=sorted(BUDGET_CLOCKS), default="process",
                        help="process: budgets in this variant's CPU seconds (default); wall: wall-clock seconds")
    parser.add_argument("--eval-every", type=int, default=0, help="optimizer steps between evaluations")
    parser.add_argument("--eval-every-minutes", type=float, default=2.5,
                        help="training minutes between evaluations (equal-time points for every variant)")
    parser.add_argument("--beam-users", type=int, default=2000, help="validation users decoded by beam search")
    parser.add_argument("--data-path", default=SHARED_DATA)
    parser.add_argument("--jobs", type=int, default=2, help="variants trained at once (one thread each)")
    parser.add_argument("--out", default=None, help="default results/learning-curves-<dataset>")
    parser.add_argument("--reuse", action="store_true", help="keep variants already in the runs folder")
    parser.add_argument("--report-only", action="store_true", help="redraw from the runs folder, train nothing")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--args", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_variant(args.one, load_variant(args.one), json.loads(args.args), args.result)
        return

    out = args.out or os.path.join(REPO, "results", f"learning-curves-{args.dataset}")
    work = os.path.abspath(out + "-runs")
    os.makedirs(work, exist_ok=True)
    names = [n for n in args.variants.split(",") if n]
    variants = {n: load_variant(n) for n in names}  # unknown names fail here, before any training
    data_path = dataset_data_path(args.data_path, args.dataset)
    shared = {"dataset": args.dataset, "data_path": data_path,
              "checkpoint_dir": os.path.join(work, "saved"), "sid_cache_dir": os.path.join(work, "sid_cache"),
              "budget_s": args.budget_minutes * 60, "clock": args.clock, "eval_every": args.eval_every,
              "eval_every_s": args.eval_every_minutes * 60, "beam_users": args.beam_users,
              "command": command_line()}
    todo = [] if args.report_only else [
        n for n in names if not (args.reuse and finished(os.path.join(work, f"{n}.json")))]

    sid_first = next((n for n in todo if variants[n]["model"] in SID_MODELS), None)
    if sid_first:  # build (or find) the shared SID table once, before jobs run in parallel
        from recbole_maskgr.config import make_config
        from recbole_maskgr.quick_start import create_dataset

        settings = {k: v for k, v in variants[sid_first].items() if k != "model"}
        settings.update(checkpoint_dir=shared["checkpoint_dir"], sid_cache_dir=shared["sid_cache_dir"])
        if data_path:
            settings["data_path"] = data_path
        create_dataset(make_config(variants[sid_first]["model"], args.dataset, config_dict=settings))

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")

    def launch(name: str) -> None:
        out_json = os.path.join(work, f"{name}.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--one", name, "--args", json.dumps(shared),
               "--result", out_json]
        with open(os.path.join(work, f"{name}.log"), "w") as log:
            code = subprocess.run(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
        if code != 0:
            print(f"{name} failed (exit {code}); see {work}/{name}.log", file=sys.stderr)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(launch, todo))
    report(work, out, args)


def report(work: str, out: str, args) -> None:
    """Tables and figure from every finished variant in the runs folder."""
    results = []
    for file in sorted(os.listdir(work)):
        if file.endswith(".json"):
            with open(os.path.join(work, file), encoding="utf-8") as handle:
                results.append(json.load(handle))
    results.sort(key=lambda r: (r["model"] != "MaskGR", r["variant"]))
    rows = [summary_row(r) for r in results]
    columns = ["variant", "model", "clock", "parameters", "steps", "epochs", "train_min", "final one-pass R@10",
               "final one-pass N@10", "final beam R@10", "final beam N@10", "best one-pass R@10", "best beam R@10",
               "final item R@10", "final item N@10"]
    budgets = sorted({round(r["budget_s"] / 60, 1) for r in results})
    text = header(f"Learning curves on {args.dataset}",
                  f"\nBudget: {', '.join(map(str, budgets))} min of training per variant (evaluation not counted), "
                  "on the clock in the table's 'clock' column (process: the variant's own CPU seconds; wall: "
                  "wall-clock seconds, which a shared machine shrinks); one torch thread per variant. Validation only (test untouched). The command above drew "
                  "this report; each variant's own run is under 'Made by' (`--jobs 2`: two variants side by side, "
                  "one core each).\n")
    text += ("\nWhat these curves say, and what did not work: [docs/maskgr.md](../docs/maskgr.md). Each "
             "variant's YAML is under `benchmarks/variants/`.\n")
    text += "\n![learning curves](" + os.path.basename(out) + ".png)\n\n" + markdown_table(rows, columns) + "\n"
    for result in results:
        settings = variant_settings(result)
        text += (f"\n### {result['variant']} ({result['model']})\n\nMade by: `{result.get('command')}`  \n"
                 f"Settings: `{json.dumps(settings)}`\n\n")
        points = [{"step": p["step"], "min": round(p["train_s"] / 60, 1), "epoch": p["epoch"],
                   "loss": p.get("train_loss"), "one-pass R@10": (p.get("one_pass") or {}).get("recall@10"),
                   "one-pass N@10": (p.get("one_pass") or {}).get("ndcg@10"), "beam R@10": p["beam"]["recall@10"],
                   "beam N@10": p["beam"]["ndcg@10"], "beam s": round(p["beam_s"], 1),
                   "item R@10": (p.get("item") or {}).get("recall@10")} for p in result["curve"]]
        text += markdown_table(points, list(points[0]))
    with open(out + ".md", "w", encoding="utf-8") as handle:
        handle.write(text)
    write_json(out + ".json", {"machine": machine(), "versions": versions(), "rows": rows, "results": results})
    if results:
        plot(results, out + ".png", f"{args.dataset}: validation Recall@10 while training (1 CPU thread each)")
    print(text)


def variant_settings(result: dict) -> dict:
    """The variant's own settings as run (without the harness's shared keys)."""
    shared_keys = {"data_path", "checkpoint_dir", "sid_cache_dir", "epochs", *EVAL}
    return {k: v for k, v in result["settings"].items() if k not in shared_keys}


if __name__ == "__main__":
    main()
