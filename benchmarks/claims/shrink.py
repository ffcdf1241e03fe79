"""Claim 3: the gap between MaskGR and TIGER grows as the training data shrinks.

Each user's training part (every interaction but the last two, which RecBole's leave-one-out split
makes validation and test) loses a share of its items, chosen at random (seeded) and keeping at
least 3; the last two interactions are copied untouched, so validation and test do not change.
"""

from __future__ import annotations

import os
import random
from benchmarks.claims.evaluation import leaderboard_rows
from benchmarks.claims.figures import line_figure

DATASET = "amazon-beauty"
KEPT_SHARES = [1.0, 0.75, 0.625, 0.5, 0.375, 0.25]  # the paper drops 25, 37.5, 50, 62.5 and 75 %
MODELS = ["MaskGR", "TIGER"]


def shrink_sequences(rows_by_user: dict[str, list], keep: float, seed: int = 2020) -> dict[str, list]:
    """Keep `keep` of each user's training rows (all rows but the last two, in time order), at least
    3 (or all, if fewer), in their order; the last two rows stay."""
    rng = random.Random(seed)
    shrunk = {}
    for user in sorted(rows_by_user):
        rows = rows_by_user[user]
        train, held_out = rows[:-2], rows[-2:]
        n_keep = min(len(train), max(3, round(keep * len(train))))
        chosen = sorted(rng.sample(range(len(train)), n_keep))
        shrunk[user] = [train[i] for i in chosen] + held_out
    return shrunk


def read_inter(path: str) -> tuple[str, dict[str, list]]:
    """Header line and each user's rows sorted by timestamp (stable: file order breaks ties)."""
    with open(path, encoding="utf-8") as handle:
        header = handle.readline()
        names = [field.split(":")[0] for field in header.rstrip("\n").split("\t")]
        user_col, time_col = names.index("user_id"), names.index("timestamp")
        rows: dict[str, list] = {}
        for line in handle:
            cells = line.rstrip("\n").split("\t")
            rows.setdefault(cells[user_col], []).append(cells)
    for user_rows in rows.values():
        user_rows.sort(key=lambda cells: float(cells[time_col]))
    return header, rows


def write_shrunk_dataset(source_dir: str, target_root: str, keep: float) -> str:
    """A data_path holding `amazon-beauty` with shrunk training sequences (the .item linked)."""
    target = os.path.join(target_root, f"keep-{keep:g}", DATASET)
    inter = os.path.join(target, f"{DATASET}.inter")
    if os.path.isfile(inter):
        return os.path.dirname(target)
    os.makedirs(target, exist_ok=True)
    header, rows = read_inter(os.path.join(source_dir, f"{DATASET}.inter"))
    shrunk = shrink_sequences(rows, keep)
    with open(inter + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(header)
        for user_rows in shrunk.values():
            handle.writelines("\t".join(cells) + "\n" for cells in user_rows)
    os.replace(inter + ".tmp", inter)
    item = os.path.join(target, f"{DATASET}.item")
    if not os.path.exists(item):
        os.symlink(os.path.abspath(os.path.join(source_dir, f"{DATASET}.item")), item)
    return os.path.dirname(target)


def build_sids_once(settings_list: list[dict]) -> None:
    """Load each shrunk dataset once before the parallel runs, so they find its SID table cached."""
    from recbole_maskgr.config import make_config
    from recbole_maskgr.quick_start import create_dataset

    for settings in settings_list:
        create_dataset(make_config(MODELS[0], DATASET, config_dict=dict(settings)))


def popularity_level(context: dict) -> float:
    """Pop's test Recall@10 on the same split (the Beauty leaderboard), the level of a model that learned nothing."""
    rows, _ = leaderboard_rows(context)
    return float(rows["Pop"]["recall@10"])


def kept_shares(text: str | None) -> list[float]:
    """`--shares 1,0.5,0.25`: the shares of each training sequence kept (all of the paper's by default)."""
    if not text:
        return list(KEPT_SHARES)
    shares = sorted({float(part) for part in text.split(",") if part.strip()}, reverse=True)
    if not shares or shares[0] != 1.0 or shares[-1] <= 0:
        raise SystemExit(f"--shares {text!r}: give shares in (0, 1], including 1 (all the data), e.g. 1,0.5,0.25")
    return shares


def claim_less_data(context: dict) -> dict:
    args, runs = context["args"], context["runs"]
    budget_s = args.budget_minutes * 60
    shares = kept_shares(args.shares)
    jobs = []
    for keep in shares:
        data_path = write_shrunk_dataset(os.path.join(args.data_path, DATASET), os.path.join(runs, "data"), keep)
        for model in MODELS:
            settings = dict(context["common"], dataset=DATASET, data_path=data_path, train_budget_s=budget_s,
                            checkpoint_dir=os.path.join(runs, "saved"), sid_cache_dir=os.path.join(runs, "sid_cache"),
                            eval_step=0,  # all of the budget trains; the last weights are tested
                            user_inter_num_interval="[0,inf)", item_inter_num_interval="[0,inf)")
            jobs.append((model, keep, settings))
    missing = [(model, keep) for model, keep, _ in jobs
               if not (args.reuse and os.path.isfile(os.path.join(runs, f"claim3-{model}-keep{keep:g}.json")))]
    build_sids_once([s for model, keep, s in jobs if model == MODELS[0] and any(k == keep for _, k in missing)])

    trained = context["train_all"]({f"claim3-{model}-keep{keep:g}": (model, settings)
                                    for model, keep, settings in jobs})
    results = [(model, keep, trained[f"claim3-{model}-keep{keep:g}"]) for model, keep, _ in jobs]
    table = []
    for model, keep, result in results:
        test = result["test_result"]
        table.append({"model": model, "kept": keep, "recall@10": float(test["recall@10"]),
                      "ndcg@10": float(test["ndcg@10"]), "epochs": result.get("epochs_trained")})
    recall = {(r["model"], r["kept"]): r["recall@10"] for r in table}
    ratios = {keep: recall[("MaskGR", keep)] / max(recall[("TIGER", keep)], 1e-9) for keep in shares}
    pop = popularity_level(context)
    epochs = {(r["model"], r["kept"]): r["epochs"] for r in table}
    path = os.path.join(context["figures"], "claim3-less-data.png")
    line_figure(
        path,
        {model: ([100 * k for k in shares], [recall[(model, k)] for k in shares]) for model in MODELS},
        xlabel="share of each training sequence kept (%)", ylabel="test Recall@10",
        title=f"Claim 3: less training data (Amazon Beauty, {args.budget_minutes:g} CPU min per run)",
        hlines={"Pop": pop},
        caption="Epochs started in the budget (MaskGR / TIGER): " + ", ".join(
            f"{100 * k:g}%: {epochs[('MaskGR', k)]}/{epochs[('TIGER', k)]}" for k in shares)
            + ". Last weights tested; validation and test items untouched.",
    )
    full, least = ratios[1.0], ratios[min(shares)]
    grows = least > full and all(recall[("MaskGR", k)] > recall[("TIGER", k)] for k in shares)
    verdict = "holds" if grows else ("does not hold" if least < full else "cannot tell")
    untrained = [k for k in shares if recall[("TIGER", k)] < pop]
    if untrained:  # a model below most-popular ranking has not learned yet: its ratio is noise
        verdict = "cannot tell"
    measured = ", ".join(f"{100 * k:g}%: {recall[('MaskGR', k)]:.4f} vs {recall[('TIGER', k)]:.4f}"
                         for k in shares)
    note = (f" TIGER is below Pop ({pop:.4f}) at {', '.join(f'{100 * k:g}%' for k in untrained)}: it has not "
            "learned in this budget (it had not finished one epoch on all the data), so the ratio says nothing "
            "about data efficiency." if untrained else "")
    return {
        "claim": "3. The gap grows as training data shrinks",
        "verdict": verdict,
        "measured": f"Recall@10 MaskGR vs TIGER by share kept: {measured}; MaskGR/TIGER ratio "
                    f"{full:.2f} with all data, {least:.2f} with {100 * min(shares):g}% kept." + note,
        "figure": os.path.relpath(path, os.path.dirname(context["runs"])),
        "budget": f"{args.budget_minutes:g} CPU minutes of training per run, last weights tested",
        "rows": table,
    }
