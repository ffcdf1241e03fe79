"""Wall-clock of one MaskGR training epoch (and one validation pass) in 1 vs 2 DDP processes.

    python benchmarks/ddp_epoch.py --dataset amazon-beauty --data-path ../shared/datasets \
        --repeats 2 --setups 1x1,1x2,2x1 --out results/ddp-amazon-beauty

A setup `PxT` is P processes with T torch threads each: on 2 cores, 1x2 (one process, both cores)
is the baseline that 2x1 (two DDP processes) has to beat; 1x1 is the project's usual setting.

Every run trains one epoch from the same seed with the same global batch (`train_batch_size` is
split across processes), then validates once with the validation decoding (one marginal pass).
Times are taken in global rank 0 between barriers, so they cover the slowest process; data
loading and the SID table (cached after the first run) are outside them. Medians of --repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import SHARED_DATA, header, markdown_table, write_json  # noqa: E402


def one_epoch(settings: dict, model: str, dataset: str, config_dict: dict, threads: int) -> dict:
    """Launch target (also run directly for one process): seconds of one epoch and one validation."""
    import torch

    from recbole_maskgr import quick_start
    from recbole_maskgr.config import make_config
    from recbole_maskgr.distributed import barrier

    torch.set_num_threads(threads)
    config = make_config(model, dataset, config_dict=dict(config_dict, **settings))
    _, (train, valid, _), _, trainer = quick_start.build(config, log=False)
    barrier()
    start = time.perf_counter()
    trainer.fit(train, None, saved=False)
    barrier()
    train_s = time.perf_counter() - start
    result = trainer.evaluate(valid, load_best_model=False)
    barrier()
    return {"train_s": train_s, "valid_s": time.perf_counter() - start - train_s,
            "train_batches_per_process": len(train), "train_loss": float(trainer.train_loss_dict[0]),
            "valid_ndcg@10": float(result["ndcg@10"])}


def measure(setup: str, model: str, dataset: str, config_dict: dict) -> dict:
    from recbole_maskgr import distributed

    nproc, threads = (int(part) for part in setup.split("x"))
    start = time.perf_counter()
    if nproc == 1:
        row = one_epoch({}, model, dataset, config_dict, threads)
    else:
        row = distributed.launch(one_epoch, nproc, args=(model, dataset, config_dict, threads),
                                 port=distributed.free_port())
    return dict(row, setup=setup, nproc=nproc, threads=threads, process_wall_s=time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="amazon-beauty")
    parser.add_argument("--data-path", default=SHARED_DATA)
    parser.add_argument("--model", default="MaskGR")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--setups", default="1x1,1x2,2x1", help="PxT: P processes, T torch threads each")
    parser.add_argument("--out", default="results/ddp-amazon-beauty")
    parser.add_argument("--work-dir", default="saved/ddp-bench", help="checkpoints and the SID cache")
    parser.add_argument("--machine-note", default="", help="what else ran on the machine (written in the results)")
    parser.add_argument("--from-runs", default=None, help="tabulate runs printed by a stopped run (JSON list)")
    args = parser.parse_args(argv)
    from recbole_maskgr.compat import quiet_recbole_warnings

    quiet_recbole_warnings()
    config_dict = {"data_path": args.data_path, "epochs": 1, "show_progress": False, "state": "WARNING",
                   "checkpoint_dir": args.work_dir, "sid_cache_dir": os.path.join(args.work_dir, "sid_cache")}
    setups = args.setups.split(",")
    runs = json.load(open(args.from_runs, encoding="utf-8")) if args.from_runs else []
    for repeat in range(0 if args.from_runs else args.repeats):
        for setup in setups:  # interleaved, so a change in the machine's load hits all alike
            runs.append(dict(measure(setup, args.model, args.dataset, config_dict), repeat=repeat))
            print(runs[-1], flush=True)
    rows = []
    for setup in setups:
        mine = [run for run in runs if run["setup"] == setup]
        if not mine:
            continue
        row = {"setup": setup, "nproc": mine[0]["nproc"], "threads": mine[0]["threads"], "runs": len(mine)}
        for key in ("train_s", "valid_s", "process_wall_s", "train_loss", "valid_ndcg@10"):
            row[key] = statistics.median(run[key] for run in mine)
        row["train_batches_per_process"] = mine[0]["train_batches_per_process"]
        rows.append(row)
    base = rows[0]["train_s"]
    for row in rows:
        row["train_speedup"] = base / row["train_s"]
    columns = ["setup", "nproc", "threads", "runs", "train_s", "train_speedup", "valid_s", "process_wall_s",
               "train_batches_per_process", "train_loss", "valid_ndcg@10"]
    note = ("\nMedians of the runs below; train_speedup is against the first setup. One epoch, same seed and "
            f"global batch; gloo on CPU. {args.machine_note}\n")
    text = header(f"DDP: one {args.model} epoch on {args.dataset}, 1 vs 2 processes", note)
    text += markdown_table(rows, columns, digits=3) + "\nAll runs:\n\n"
    text += markdown_table(runs, ["repeat", "setup", "train_s", "valid_s", "process_wall_s"], digits=3)
    with open(args.out + ".md", "w", encoding="utf-8") as handle:
        handle.write(text)
    write_json(args.out + ".json", {"command": " ".join(sys.argv), "rows": rows, "runs": runs})
    print(text)


if __name__ == "__main__":
    main()
