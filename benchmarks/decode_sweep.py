"""MaskGR decoding sweep on a trained checkpoint: quality and speed per decoding setting.

    python benchmarks/decode_sweep.py --checkpoint results/amazon-beauty-runs/saved/MaskGR-<time>.pth \
        --max-users 2000 --out results/amazon-beauty-decoding

Settings varied one at a time from the trained defaults: encoder passes (decode_steps 5, 3, 2, 1:
tokens-per-step schedules), beam width (10, 20, 50), position order (top-prob, left-to-right,
random), invalid-SID handling (constrained, projection), and one-pass marginal scoring.
Decoding defaults are chosen from this sweep, so it reads the validation split (`--split valid`,
the default); `--split test` is for final tables only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, replace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import header, markdown_table, write_json  # noqa: E402

METRICS = ["recall@5", "recall@10", "recall@20", "ndcg@5", "ndcg@10", "ndcg@20"]


def settings_grid(sid_length: int, item_head: bool = False) -> list[dict]:
    """Passes first (every count from H down to 1, and [H-1, 1]), then one change at a time from
    the checkpoint's own decoding spec; with an item head, its re-ranking weights too. Each row:
    its name, then the `DecodingSpec` fields it changes."""
    from recbole_maskgr.decoding.spec import split_schedule

    grid = []
    for steps in sorted({sid_length, 3, 2, 1}, reverse=True):
        if steps <= sid_length:
            grid.append({"name": f"decode_steps={steps}", "schedule": split_schedule(sid_length, steps)})
        if steps == 2 and sid_length > 2:  # two passes, most tokens from the first
            grid.append({"name": f"decode_steps=[{sid_length - 1}, 1]", "schedule": [sid_length - 1, 1]})
    grid += [{"name": f"beam_width={b}", "beam_width": b} for b in (20, 50)]
    grid += [{"name": f"order={o}", "order": o} for o in ("left-to-right", "random")]
    grid += [{"name": "invalid=projection", "invalid_sid": "projection"}]
    grid += [{"name": "one-pass marginal (no beams)", "mode": "marginal"}]
    if item_head:  # the item-level softmax: beams re-ranked by it, or ranking alone in one pass
        grid += [{"name": f"beam_rerank_weight={w}", "rerank_weight": w} for w in (0.0, 0.5, 1.0, 2.0, 4.0, 100.0)]
        grid += [{"name": f"beam_width={b}, beam_rerank_weight={w}", "beam_width": b, "rerank_weight": w}
                 for b in (20, 50) for w in (1.0, 100.0)]
        grid += [{"name": f"one-pass item softmax (no beams), item_marginal_weight={w}", "mode": "item",
                  "marginal_weight": w} for w in (0.0, 0.1, 0.25, 0.5, 1.0)]
    return grid


def spec_of(setting: dict, base):
    """The base spec with the row's changes."""
    return replace(base, **{k: v for k, v in setting.items() if k != "name"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--max-users", type=int, default=2000, help="first N test users (bounds the time)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--split", choices=("valid", "test"), default="valid", help="users to decode")
    parser.add_argument("--only", default="", help="comma-separated words: run only the settings whose name has one")
    args = parser.parse_args()

    import torch
    from recbole.data.utils import get_dataloader

    from recbole_maskgr.quick_start import get_trainer, load_data_and_model
    from recbole_maskgr.trainer.checkpoint import recorded_locations

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    # our own run's checkpoint: its data and SID cache folders are trusted (passed on explicitly)
    config, model, dataset, _, valid_data, test_data = load_data_and_model(args.checkpoint,
                                                                            recorded_locations(args.checkpoint))
    split_data = valid_data if args.split == "valid" else test_data
    subset = split_data.dataset.copy(split_data.dataset.inter_feat[: args.max_users])
    loader = get_dataloader(config, "test")(config, subset, None, shuffle=False)
    trainer = get_trainer(config)(config, model)
    # the test-time spec, whichever split is read; the grid's beam settings decode by beams whatever
    # the checkpoint's default mode
    base = replace(model.specs["test"], mode="beam")
    rows = []
    grid = settings_grid(model.sid_length, getattr(model, "item_head", None) is not None)
    if args.only:
        grid = [g for g in grid if any(word in g["name"] for word in args.only.split(","))]
    for setting in grid:
        start = time.perf_counter()
        result = trainer.evaluate(loader, load_best_model=False, spec=spec_of(setting, base))
        elapsed = time.perf_counter() - start
        stats = trainer.last_decode_stats
        row = {"setting": setting["name"], **{m: float(result[m]) for m in METRICS if m in result}}
        row.update(users=len(subset), passes_per_user=round(stats["nfe_per_user"], 1),
                   users_per_s=round(len(subset) / elapsed, 1))
        rows.append(row)
        print(row, flush=True)
    columns = ["setting", *[m for m in METRICS if m in rows[0]], "passes_per_user", "users_per_s"]
    text = header("MaskGR decoding sweep", f"\nCheckpoint: `{args.checkpoint}`; first {len(subset)} {args.split} users. "
                  f"Settings not named in a row (the checkpoint's, with beam decoding): {asdict(base)} (B = beam_width).\n")
    text += "\n" + markdown_table(rows, columns)
    with open(args.out + ".md", "w", encoding="utf-8") as handle:
        handle.write(text)
    write_json(args.out + ".json", {"checkpoint": args.checkpoint, "split": args.split, "rows": rows})
    print(text)


if __name__ == "__main__":
    main()
