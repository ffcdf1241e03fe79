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
    if caption:
        fig.text(0.01, 0.01, caption, fontsize=7, ha="left", va="bottom", wrap=True)
        fig.subplots_adjust(bottom=0.2)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
