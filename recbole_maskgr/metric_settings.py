"""`metrics`, `topk` and `valid_metric` checked against RecBole's metric registry when the config is made.

RecBole answers an unknown metric with NotImplementedError, mixed metric kinds with RuntimeError, and a
`valid_metric` that is not computed only after the first validation (a KeyError after an epoch of
training). Light: returns the problem as text, so that `config.py` raises its ConfigError with it.
"""

from __future__ import annotations

import difflib

FIX = "Fix it in your config file or on the command line"


def as_list(value) -> list:
    """RecBole's rule: a single name or number stands for a one-item list."""
    return [value] if isinstance(value, (str, int)) and not isinstance(value, bool) else value


def metric_problem(settings) -> str | None:
    """What is wrong with the metric settings of `settings` (a final config dict), or None."""
    from recbole.evaluator.register import metric_information, metric_types, metrics_dict

    known = {name: cls.__name__ for name, cls in metrics_dict.items()}  # lower-case -> RecBole's spelling
    metrics = as_list(settings.get("metrics"))
    if not isinstance(metrics, (list, tuple)) or not metrics or not all(isinstance(m, str) for m in metrics):
        return f"metrics must be a list of RecBole metric names, e.g. [Recall, NDCG], got {metrics!r}. {FIX}."
    unknown = [m for m in metrics if m.lower() not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0].lower(), list(known), n=1, cutoff=0.6)
        hint = f" Did you mean '{known[close[0]]}'?" if close else ""
        return (f"metrics names an unknown metric '{unknown[0]}'.{hint} RecBole's metrics: "
                f"{', '.join(sorted(known.values()))}. {FIX} (e.g. --metrics=\"['Recall','NDCG']\").")
    kinds = {metric_types[m.lower()].name.lower() for m in metrics}
    if len(kinds) > 1:
        return (f"metrics {list(metrics)} mix ranking and value metrics; RecBole evaluates one kind per run. "
                f"Keep only ranking metrics (e.g. Recall, NDCG) or only value metrics (e.g. AUC, LogLoss).")
    topk = as_list(settings.get("topk"))
    if not isinstance(topk, (list, tuple)) or not topk or any(
            isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in topk):
        return f"topk must be a whole number >= 1 or a list of them, e.g. [5, 10], got {topk!r}. {FIX}."
    computed = []
    for m in metrics:
        per_k = {"rec.topk", "rec.items"} & set(metric_information[m.lower()])
        computed += [f"{m}@{k}" for k in topk] if per_k else [m]
    valid = settings.get("valid_metric")
    if not isinstance(valid, str) or valid.lower() not in {c.lower() for c in computed}:
        return (f"valid_metric {valid!r} is not one of the metrics this run computes ({', '.join(computed)}: "
                f"metrics x topk). {FIX}, e.g. --valid_metric={computed[0]}, or add it to metrics and topk.")
    return None
