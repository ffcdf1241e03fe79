"""Figures of the claims page: labelled axes, a legend, and the budget in the caption."""

from __future__ import annotations


def line_figure(path: str, series: dict, xlabel: str, ylabel: str, title: str, caption: str = "",
                hlines: dict | None = None, logx: bool = False) -> None:
    """series: label -> (xs, ys); hlines: label -> y (a level to compare with, dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", markersize=3, label=label)
    for label, y in (hlines or {}).items():
        ax.axhline(y, linestyle="--", color="grey", linewidth=1)
        ax.annotate(label, (ax.get_xlim()[0], y), textcoords="offset points", xytext=(4, 3), fontsize=8)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    _finish(fig, path, caption)


def bar_figure(path: str, groups: dict, categories: list[str], ylabel: str, title: str, caption: str = "") -> None:
    """groups: label -> one value per category, drawn as grouped bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    width = 0.8 / max(1, len(groups))
    for i, (label, values) in enumerate(groups.items()):
        xs = [c + (i - (len(groups) - 1) / 2) * width for c in range(len(categories))]
        ax.bar(xs, values, width=width, label=label)
    ax.set_xticks(range(len(categories)), categories)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    if len(groups) > 4:  # a long legend goes beside the bars instead of over them
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize=8)
    _finish(fig, path, caption)


def two_panel_figure(path: str, xlabel: str, panels: list, title: str, caption: str = "") -> None:
    """panels: (ylabel, series label -> (xs, ys), level label -> y) side by side, one shared x label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(10, 4))
    for ax, (ylabel, series, levels) in zip(axes, panels):
        for label, (xs, ys) in series.items():
            ax.plot(xs, ys, marker="o", label=label)
        for i, (label, y) in enumerate(levels.items(), start=len(series)):
            ax.axhline(y, linestyle="--", color=f"C{i}", label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    _finish(fig, path, caption)


def _finish(fig, path: str, caption: str) -> None:
    import matplotlib.pyplot as plt

    if caption:
        fig.text(0.01, 0.01, caption, fontsize=7, ha="left", va="bottom", wrap=True)
        fig.subplots_adjust(bottom=0.2)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
