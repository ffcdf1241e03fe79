"""Train a model briefly through the run script's code path, reload its checkpoint with
load_data_and_model, and check the test metrics are reproduced exactly.

    python benchmarks/checkpoint_roundtrip.py --models SASRec,BERT4Rec --dataset amazon-beauty --epochs 1 \
        --out results/checkpoint-roundtrip-amazon-beauty
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import SHARED_DATA, header, markdown_table, write_json  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="SASRec,BERT4Rec")
    parser.add_argument("--dataset", default="amazon-beauty")
    parser.add_argument("--data-path", default=SHARED_DATA)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from recbole_maskgr.quick_start import get_trainer, load_data_and_model, run

    rows = []
    for model in args.models.split(","):
        start = time.perf_counter()
        settings = {"data_path": os.path.abspath(args.data_path), "epochs": args.epochs, "show_progress": False}
        result = run(model, args.dataset, config_dict=settings)
        config, net, _, _, _, test = load_data_and_model(result["saved_model_file"])
        again = get_trainer(config)(config, net).evaluate(test, load_best_model=False)
        first = {k: float(v) for k, v in result["test_result"].items()}
        second = {k: float(v) for k, v in again.items()}
        rows.append({"model": model, "recall@10": first["recall@10"], "ndcg@10": first["ndcg@10"],
                     "reloaded_recall@10": second["recall@10"], "reloaded_ndcg@10": second["ndcg@10"],
                     "identical": first == second, "seconds": round(time.perf_counter() - start)})
        print(rows[-1], flush=True)
    text = header(f"Checkpoint round-trip ({args.dataset}, {args.epochs} epoch)")
    text += "\n" + markdown_table(rows, list(rows[0]))
    with open(args.out + ".md", "w", encoding="utf-8") as handle:
        handle.write(text)
    write_json(args.out + ".json", {"rows": rows})
    print(text)
    sys.exit(0 if all(r["identical"] for r in rows) else 1)


if __name__ == "__main__":
    main()
