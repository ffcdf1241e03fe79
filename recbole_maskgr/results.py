"""Leaderboard tables on disk: a table grows one row per finished model (Markdown + JSON, written
atomically), so a later failure loses nothing, and a rerun starts its own file
(`leaderboard-<dataset>-2.md`, ...) instead of overwriting an earlier one unless asked to."""

from __future__ import annotations

import json
import os
import platform
import time
from logging import getLogger

import torch

from recbole_maskgr.config import ConfigError
from recbole_maskgr.files import atomic_write_text, claim_name, output_dir

LEADERBOARD_METRICS = ["recall@5", "recall@10", "ndcg@5", "ndcg@10", "mrr@10"]


def check_models(models: list[str]) -> list[str]:
    """Refuse an empty model list (e.g. `--model=$UNSET`) instead of writing an empty table."""
    if not models:
        raise ConfigError("--model is empty: name a model, e.g. --model=MaskGR, or several for a leaderboard, "
                          "e.g. --model=MaskGR,SASRec,Pop.")
    return models


def machine_description() -> str:
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"CPU {cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"


def leaderboard_rows(results: list[dict]) -> list[dict]:
    rows = []
    for result in results:
        test = result["test_result"] or {}
        row = {"model": result["model"]}
        row.update({metric: float(test.get(metric, float("nan"))) for metric in LEADERBOARD_METRICS})
        row.update(
            train_time_s=round(result["train_time_s"], 1),
            eval_time_s=round(result["test_eval_time_s"], 1),
            parameters=result["parameters"],
        )
        rows.append(row)
    return rows


def leaderboard_markdown(rows: list[dict], header: str) -> str:
    columns = ["model", *LEADERBOARD_METRICS, "train_time_s", "eval_time_s", "parameters"]
    lines = [header, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [f"{row[c]:.4f}" if c in LEADERBOARD_METRICS else str(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def claim_table(stem: str, overwrite: bool = False) -> str:
    """`stem`, or `stem-2`, `-3`, ... when an earlier table (.md or .json) has that name; with
    `overwrite`, `stem` itself."""
    if overwrite:
        return stem
    return claim_name(stem + ".md", taken=lambda md: os.path.exists(os.path.splitext(md)[0] + ".json"))[:-3]


def write_tables(stem: str, markdown: str, payload: dict) -> None:
    """`<stem>.md` and `<stem>.json`, each atomically (a crash leaves the previous version whole)."""
    atomic_write_text(stem + ".json", json.dumps(payload, indent=2, default=str))
    atomic_write_text(stem + ".md", markdown)


class LeaderboardTable:
    """One leaderboard's files: named when the run starts, rewritten as each model finishes."""

    def __init__(self, models: list[str], dataset: str, results_dir: str, command: str | None,
                 overwrite: bool = False):
        import recbole

        output_dir(results_dir, "--results_dir")
        self.models, self.results = list(models), []
        self.stem = claim_table(os.path.join(results_dir, f"leaderboard-{dataset}"), overwrite)
        self.meta = {
            "dataset": dataset,
            "command": command,
            "machine": machine_description(),
            "versions": {"recbole": recbole.__version__, "torch": torch.__version__},
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        self.write()

    def add(self, result: dict) -> None:
        self.results.append(result)
        self.write()

    @property
    def markdown(self) -> str:
        meta, done = self.meta, len(self.results)
        waiting = self.models[done:]
        status = f"all {done} models finished" if not waiting else \
            f"{done} of {len(self.models)} models finished; still to run: {', '.join(waiting)}"
        header = (
            f"# Leaderboard: {meta['dataset']}\n\nCommand: `{meta['command']}`  \nMachine: {meta['machine']}  \n"
            f"Versions: recbole {meta['versions']['recbole']}, torch {meta['versions']['torch']}  \n"
            f"Date: {meta['date']}  \nStatus: {status}"
        )
        return leaderboard_markdown(leaderboard_rows(self.results), header)

    def write(self) -> None:
        payload = {**self.meta, "models": self.models, "rows": leaderboard_rows(self.results),
                   "results": [_jsonable(r) for r in self.results]}
        write_tables(self.stem, self.markdown, payload)
        getLogger().info(f"Leaderboard written to {self.stem}.md and {self.stem}.json")


def _jsonable(result: dict) -> dict:
    from recbole_maskgr.trainer.checkpoint import to_plain

    return json.loads(json.dumps(to_plain(result), default=str))
