"""results/paper-claims.md: one row per claim from the claim files of the runs folder; notes written
by hand below the line `<!-- notes -->` are kept."""

from __future__ import annotations

import glob
import json
import os

ORDER = ["1", "2", "3", "4", "5", "next-k"]


def write_claims_page(runs: str, out: str) -> str:
    claims = {}
    for path in glob.glob(os.path.join(runs, "claim-*.json")):
        with open(path, encoding="utf-8") as handle:
            claims[os.path.basename(path)[len("claim-"):-len(".json")]] = json.load(handle)
    from benchmarks.common import machine, versions

    lines = [
        "# The paper's claims, checked on our data",
        "",
        "MaskGR (arXiv 2511.23021) claims five things; each row says what we measured, whether it holds",
        "here, and the command that measured it. Machine: " + machine() + f"; versions {versions()}.",
        "Budgets are training CPU time per run (one torch thread each); test split, full ranking.",
        "",
        "| claim | what we measured | holds? | budget | figure | command |",
        "|---|---|---|---|---|---|",
    ]
    for name in sorted(claims, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER)):
        c = claims[name]
        figure = f"![]({c['figure']})" if c.get("figure") else ""
        lines.append(f"| {c['claim']} | {c['measured']} | **{c['verdict']}** | {c.get('budget', '')} | "
                     f"{figure} | `{c['command']}` |")
    text = "\n".join(lines) + "\n"
    marker = "<!-- notes -->"  # notes written by hand below it are kept
    if os.path.isfile(out):
        with open(out, encoding="utf-8") as handle:
            old = handle.read()
        if marker in old:
            text += "\n" + marker + old.split(marker, 1)[1]
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(text)
    with open(os.path.splitext(out)[0] + ".json", "w", encoding="utf-8") as handle:
        json.dump({"machine": machine(), "versions": versions(), "claims": claims}, handle, indent=2, default=str)
    return text
