"""Check that checkpoints reproduce a model exactly, through the run script's code path.

Reload (default): train briefly, reload the best checkpoint with load_data_and_model, and check the
test metrics are reproduced exactly.

Kill -9 (`--kill-at-step N`): train the model twice side by side with a mid-epoch checkpoint every N
optimizer steps; kill the second run with SIGKILL once its first such checkpoint is on disk, resume
it with --resume, and check that its metrics and its best and final weights equal the uninterrupted
run's.

    python benchmarks/checkpoint_roundtrip.py --models SASRec,BERT4Rec --dataset amazon-beauty --epochs 1 \\
        --out results/checkpoint-roundtrip-amazon-beauty
    python benchmarks/checkpoint_roundtrip.py --models MaskGR --dataset ml-100k --epochs 1 --kill-at-step 95 \\
        --set dense_retrieval=True --out results/checkpoint-roundtrip-ml-100k-dense
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import SHARED_DATA, dataset_data_path, header, markdown_table, write_json  # noqa: E402

def reload_row(model: str, dataset: str, settings: dict) -> dict:
    """Train, reload the best checkpoint, test again: the two test results."""
    from recbole_maskgr.quick_start import get_trainer, load_data_and_model, run

    result = run(model, dataset, config_dict=settings)
    config, net, _, _, _, test = load_data_and_model(result["saved_model_file"])
    again = get_trainer(config)(config, net).evaluate(test, load_best_model=False)
    first = {k: float(v) for k, v in result["test_result"].items()}
    second = {k: float(v) for k, v in again.items()}
    return {"model": model, "recall@10": first["recall@10"], "ndcg@10": first["ndcg@10"],
            "reloaded_recall@10": second["recall@10"], "reloaded_ndcg@10": second["ndcg@10"],
            "identical": first == second}


def same_weights(path: str, other: str) -> bool:
    from recbole_maskgr.trainer.checkpoint import safe_load

    ours, theirs = safe_load(path)["state_dict"], safe_load(other)["state_dict"]
    return ours.keys() == theirs.keys() and all(ours[name].equal(theirs[name]) for name in ours)


def kill_row(model: str, dataset: str, settings: dict, kill_at: int, work: Path) -> dict:
    """An uninterrupted run and one killed with SIGKILL mid-epoch, then resumed: how they compare."""
    from benchmarks.killed_run import finish, kill_after_mid_epoch_checkpoint, start_cli, wait_until_training
    from recbole_maskgr.trainer.run_files import last_checkpoint_path

    folders = {run: work / model / run for run in ("uninterrupted", "killed")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    settings = dict(settings, checkpoint_every_steps=kill_at, sid_cache_dir=str(work / "sid_cache"))
    runs = {run: dict(settings, checkpoint_dir=str(folder / "saved")) for run, folder in folders.items()}
    whole = start_cli(folders["uninterrupted"], runs["uninterrupted"], model=model, dataset=dataset)
    wait_until_training(whole, folders["uninterrupted"])
    killed = start_cli(folders["killed"], runs["killed"], model=model, dataset=dataset)
    position = kill_after_mid_epoch_checkpoint(killed, folders["killed"], kill_at, timeout=3600)
    (last,) = (folders["killed"] / "saved").glob("*-last.pth")
    resumed = start_cli(folders["killed"], runs["killed"], f"--resume={last}", model=model, dataset=dataset)
    ours, theirs = finish(resumed, folders["killed"], timeout=None), finish(whole, folders["uninterrupted"], timeout=None)
    return {
        "model": model, "killed_at_step": position["train_steps"], "killed_at_batch": position["batches_done"],
        "recall@10": theirs["test"]["recall@10"], "resumed_recall@10": ours["test"]["recall@10"],
        "ndcg@10": theirs["test"]["ndcg@10"], "resumed_ndcg@10": ours["test"]["ndcg@10"],
        "metrics_identical": ours["valid"] == theirs["valid"] and ours["test"] == theirs["test"],
        "best_weights_identical": same_weights(ours["best"], theirs["best"]),
        "final_weights_identical": same_weights(last_checkpoint_path(ours["best"]),
                                                last_checkpoint_path(theirs["best"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="SASRec,BERT4Rec")
    parser.add_argument("--dataset", default="amazon-beauty")
    parser.add_argument("--data-path", default=SHARED_DATA, help="ignored for datasets it does not hold")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for every run, the value read as YAML (e.g. dense_retrieval=True)")
    parser.add_argument("--kill-at-step", type=int, metavar="N", help="the kill -9 check instead of the reload")
    parser.add_argument("--note", default="", help="a line for the results file (e.g. that the machine was shared)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    settings = {"epochs": args.epochs, "show_progress": False}
    data_path = dataset_data_path(args.data_path, args.dataset)
    if data_path:
        settings["data_path"] = data_path
    for assignment in args.set:
        key, _, value = assignment.partition("=")
        settings[key] = yaml.safe_load(value)
    rows = []
    for model in args.models.split(","):
        start = time.perf_counter()
        if args.kill_at_step:
            work = Path(os.path.abspath(args.out + "-runs"))
            rows.append(kill_row(model, args.dataset, settings, args.kill_at_step, work))
        else:
            rows.append(reload_row(model, args.dataset, settings))
        rows[-1]["seconds"] = round(time.perf_counter() - start)
        print(rows[-1], flush=True)
    check = f"kill -9 at step {args.kill_at_step} and resume" if args.kill_at_step else "reload"
    text = header(f"Checkpoint round-trip: {check} ({args.dataset}, {args.epochs} epoch)", args.note)
    text += f"\nSettings: {settings}\n\n" + markdown_table(rows, list(rows[0]))
    with open(args.out + ".md", "w", encoding="utf-8") as handle:
        handle.write(text)
    write_json(args.out + ".json", {"settings": settings, "rows": rows})
    print(text)
    identical = [value for row in rows for key, value in row.items() if key.endswith("identical")]
    sys.exit(0 if all(identical) else 1)


if __name__ == "__main__":
    main()
