"""Hyperparameter search with RecBole's `HyperTuning` (hyperopt) over our `run`.

RecBole's `exhaustive` algorithm hands hyperopt a legacy `np.random.RandomState`, which hyperopt
>= 0.3 cannot draw integers from, and it then ignores `max_evals`; `exhaustive_search` below is the
same search (random draws, never one twice) with the generator hyperopt expects.
"""

from __future__ import annotations

import json
import time

import numpy as np

from recbole_maskgr.config import ConfigError
from recbole_maskgr.files import atomic_write_text
from recbole_maskgr.quick_start import objective_function

HYPER_ALGOS = ("exhaustive", "random", "bayes")


def exhaustive_search(new_ids, domain, trials, seed, max_failures: int = 1000):
    """hyperopt algorithm: new parameter sets drawn at random, never one already tried."""
    from hyperopt import pyll
    from hyperopt.base import miscs_update_idxs_vals

    def key(vals):
        return frozenset((name, value[0] if len(value) else None) for name, value in vals.items())

    seen = {key(trial["misc"]["vals"]) for trial in trials.trials}
    rng = np.random.default_rng(seed)
    docs = []
    for new_id in new_ids:
        for _ in range(max_failures):
            idxs, vals = pyll.rec_eval(domain.s_idxs_vals, memo={domain.s_new_ids: [new_id], domain.s_rng: rng})
            if key(vals) not in seen:
                break
        else:
            return docs  # every combination was tried: hyperopt stops
        seen.add(key(vals))
        misc = dict(tid=new_id, cmd=domain.cmd, workdir=domain.workdir)
        miscs_update_idxs_vals([misc], idxs, vals)
        docs.extend(trials.new_trial_docs([new_id], [None], [domain.new_result()], [misc]))
    return docs


def default_params_file(model: str) -> str:
    """`properties/hyper/<model>.test` when we ship one, else the learning-rate search for any model."""
    from recbole_maskgr.config import resource_dir

    folder = resource_dir("properties") / "hyper"
    own = folder / f"{model}.test"
    return str(own if own.is_file() else folder / "default.test")


def checked_space(model: str, dataset: str, params_file: str, config_files=None, cmd_args=None) -> dict:
    """The parsed search space, each value tried in a Config first: a typo, a setting also fixed on
    the command line or a value of the wrong type is refused before the first trial trains."""
    from recbole_maskgr.config import make_config
    from recbole_maskgr.hyper_space import read_space, trial_values

    space = read_space(params_file)
    fixed = {arg[2:].partition("=")[0] for arg in cmd_args or []}
    if set(space) & fixed:
        raise ConfigError(f"{', '.join(sorted(set(space) & fixed))} is both searched ({params_file}) and fixed on "
                          "the command line; drop one.")
    for setting in space.values():
        for value in trial_values(setting):
            try:
                make_config(model, dataset, config_files, {setting.name: value}, cmd_args)
            except ConfigError as err:
                message = str(err).replace(" in config_dict", "")
                raise ConfigError(f"Parameter file '{params_file}' line {setting.line}: {message}") from None
    return space


def tune(model: str, dataset: str, params_file: str | None = None, config_files=None, cmd_args=None,
         max_evals: int = 100, algo: str = "exhaustive", early_stop: int = 10):
    """Run the search; returns the HyperTuning object (its `params2result` holds every trial)."""
    from functools import partial

    from recbole.trainer.hyper_tuning import HyperTuning, _spacesize

    from recbole_maskgr.hyper_space import hyperopt_space

    if algo not in HYPER_ALGOS:
        raise ConfigError(f"--algo must be one of {', '.join(HYPER_ALGOS)}, got '{algo}'.")
    params_file = params_file or default_params_file(model)
    space = checked_space(model, dataset, params_file, config_files, cmd_args)
    ranged = [setting for setting in space.values() if setting.kind != "choice"]
    if algo == "exhaustive" and ranged:
        raise ConfigError(f"Parameter file '{params_file}' line {ranged[0].line}: --algo=exhaustive tries "
                          f"combinations of `choice` lines, but '{ranged[0].name}' is {ranged[0].kind}. Use "
                          "--algo=random or --algo=bayes, or list its values with choice.")
    objective = partial(objective_function, model=model, dataset=dataset, cmd_args=cmd_args)
    chosen = exhaustive_search if algo == "exhaustive" else algo
    tuner = HyperTuning(objective, space=hyperopt_space(space), fixed_config_file_list=config_files,
                        algo=chosen, max_evals=max_evals, early_stop=early_stop)
    if algo == "exhaustive":
        tuner.max_evals = int(min(max_evals, _spacesize(tuner.space)))
    tuner.run()
    return tuner


def trial_rows(tuner, metrics=("recall@10", "ndcg@10", "mrr@10")) -> list[dict]:
    """One row per trial: its parameters, best validation score, test metrics, train time."""
    rows = []
    for number, (params, result) in enumerate(tuner.params2result.items(), start=1):
        test = result.get("test_result") or {}
        row = {"trial": number, "params": params, "best_valid_score": float(result["best_valid_score"])}
        row.update({f"test_{m}": float(test.get(m, float("nan"))) for m in metrics})
        row["train_time_s"] = round(float(result.get("train_time_s", float("nan"))), 1)
        rows.append(row)
    return rows


def best_row(rows: list[dict], bigger: bool) -> dict:
    return (max if bigger else min)(rows, key=lambda row: row["best_valid_score"])


def write_table(rows: list[dict], best: dict, stem: str, command: str) -> str:
    """`<stem>.md` (one row per trial) and `<stem>.json`; returns the Markdown."""
    columns = list(rows[0])
    lines = [f"# Hyperparameter search\n\nCommand: `{command}`  \nDate: {time.strftime('%Y-%m-%d %H:%M:%S')}  \n"
             f"Best trial: {best['trial']} ({best['params']})\n",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    markdown = "\n".join(lines) + "\n"
    atomic_write_text(stem + ".md", markdown)
    atomic_write_text(stem + ".json", json.dumps({"command": command, "best": best, "rows": rows}, indent=2))
    return markdown
