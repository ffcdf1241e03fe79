"""Training throughput of MaskGR and SASRec on one batch shape, and MaskGR's matmul efficiency.

    python benchmarks/throughput.py --dataset amazon-beauty --data-path ../shared/datasets \
        --out results/throughput-amazon-beauty

Reports sequences/s and (real, unpadded) tokens/s per training step, MaskGR's model FLOP/s
(matmul FLOPs counted from the architecture) and this CPU's torch.mm peak, medians of --repeats.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import SHARED_DATA, header, markdown_table, write_json  # noqa: E402


def matmul_peak_gflops(size: int = 1024, repeats: int = 10) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def maskgr_step_flops(model, lengths) -> float:
    """Forward+backward matmul FLOPs of one MaskGR step (3x forward), from the architecture.

    Counted as the model runs: chunks of `train_chunk_sequences` histories of similar length,
    each padded to its own longest (history + target) item count.
    """
    d = model.hidden_size
    layers = len(model.encoder.blocks)
    ff = model.encoder.blocks[0].ff[0].out_features
    total = 0.0
    for chunk in lengths.sort().values.split(model.train_chunk_sequences):
        length = int(chunk.max() + 1) * model.sid_length  # tokens per row in this chunk
        per_token_layer = 2 * (4 * d * d + 2 * d * ff) + 2 * 2 * length * d  # projections, FFN, attention
        output = 2 * d * model.codebook_size  # tied per-level logits
        total += 3 * len(chunk) * length * (layers * per_token_layer + output)
    return total


def time_steps(model, batches, repeats: int) -> list[float]:
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    times = []
    for index in range(repeats + 1):
        batch = batches[index % len(batches)]
        start = time.perf_counter()
        optimizer.zero_grad()
        model.calculate_loss(batch).backward()
        optimizer.step()
        if index:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="amazon-beauty")
    parser.add_argument("--data-path", default=SHARED_DATA)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import torch

    from recbole_maskgr.config import make_config
    from recbole_maskgr.quick_start import build

    torch.set_num_threads(args.threads)
    peak = matmul_peak_gflops()
    rows, raw = [], {}
    for name in ("MaskGR", "SASRec"):
        settings = {"data_path": args.data_path, "train_batch_size": args.batch_size, "show_progress": False,
                    "state": "WARNING"}
        config = make_config(name, args.dataset, config_dict=settings)
        _, (train, _, _), model, _ = build(config, log=False)
        batches = [b for _, b in zip(range(args.repeats + 1), train)]
        times = time_steps(model, batches, args.repeats)
        step = statistics.median(times)
        lengths = torch.cat([b[model.ITEM_SEQ_LEN] for b in batches]).float()
        tokens_per_item = getattr(model, "sid_length", 1)
        real_tokens = float((lengths.mean() + 1) * tokens_per_item * args.batch_size)
        row = {"model": name, "step_ms": round(step * 1000, 1), "sequences_per_s": round(args.batch_size / step, 1),
               "tokens_per_s": round(real_tokens / step, 1)}
        if name == "MaskGR":
            flops = [maskgr_step_flops(model, b[model.ITEM_SEQ_LEN]) for b in batches[1:]]
            gflops = statistics.median(flops) / step / 1e9
            row.update(model_gflops=round(gflops, 1), share_of_mm_peak=round(gflops / peak, 3))
        rows.append(row)
        raw[name] = times
        print(row, flush=True)
    text = header(f"Training throughput ({args.dataset})", f"\ntorch threads {args.threads}; torch.mm peak "
                  f"{peak:.1f} GFLOP/s (1024x1024 fp32); batch {args.batch_size}; median of {args.repeats} steps.\n")
    text += "\n" + markdown_table(rows, ["model", "step_ms", "sequences_per_s", "tokens_per_s", "model_gflops",
                                         "share_of_mm_peak"], digits=3)
    with open(args.out + ".md", "w", encoding="utf-8") as handle:
        handle.write(text)
    write_json(args.out + ".json", {"peak_gflops": peak, "rows": rows, "step_seconds": raw})
    print(text)


if __name__ == "__main__":
    main()
