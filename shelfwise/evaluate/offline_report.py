"""Show an :class:`~shelfwise.evaluate.offline.OfflineReport`: a rich table, Markdown, a PNG plot.

Every output carries the report's protocol line (split, full or SAMPLED ranking, history
handling, number of shoppers), so a number is never shown without the protocol behind it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shelfwise.errors import ConfigError, ShelfwiseError
from shelfwise.evaluate.offline import OfflineReport
from shelfwise.evaluate.offline_metrics import Interval

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["markdown_table", "plot_ndcg", "rich_table", "table_rows"]


def _cell(v: Interval, ci: bool = True) -> str:
    if not np.isfinite(v.value):
        return "-"
    if not ci or not (np.isfinite(v.low) and np.isfinite(v.high)):
        return f"{v.value:.4f}"
    return f"{v.value:.4f} [{v.low:.4f}, {v.high:.4f}]"


def table_rows(report: OfflineReport, k: int | None = None) -> tuple[list[str], list[list[str]]]:
    """Column names and string rows of the main table at cut-off ``k`` (default the first K).

    Raises:
        ConfigError: ``k`` is not one of the report's cut-offs.

    """
    k = report.ks[0] if k is None else k
    if k not in report.ks:
        raise ConfigError(f"k={k} is not among the report's cut-offs {list(report.ks)}")
    cols = ["model", "role", f"NDCG@{k}", f"HR@{k}", "MRR", f"coverage@{k}", f"pop@{k}",
            "fit s"]
    if report.reference is not None:
        cols.append(f"ΔNDCG@{k} vs {report.reference}")
    rows = []
    for m in report.models:
        row = [m.name, m.role, _cell(m.metrics[f"ndcg@{k}"]), _cell(m.metrics[f"hr@{k}"]),
               _cell(m.metrics["mrr"]), _cell(m.metrics[f"coverage@{k}"]),
               _cell(m.metrics[f"pop@{k}"], ci=False),
               "-" if m.fit_seconds is None else f"{m.fit_seconds:.2f}"]
        if report.reference is not None:
            d = m.diff.get(f"ndcg@{k}")
            row.append("(reference)" if d is None else
                       f"{d.value:+.4f} [{d.low:+.4f}, {d.high:+.4f}]")
        rows.append(row)
    return cols, rows


def rich_table(report: OfflineReport, k: int | None = None) -> Table:
    """A rich table of every model at cut-off ``k``, titled with the protocol."""
    from rich.table import Table

    cols, rows = table_rows(report, k)
    table = Table(title=f"Offline evaluation: {report.protocol}", title_justify="left")
    for c in cols:
        table.add_column(c, justify="left" if c in ("model", "role") else "right")
    for row in rows:
        table.add_row(*row)
    for note in report.notes:
        table.caption = (table.caption + "; " if table.caption else "") + note
    return table


def markdown_table(report: OfflineReport, k: int | None = None) -> str:
    """The main table as GitHub Markdown, preceded by the protocol line."""
    cols, rows = table_rows(report, k)
    lines = [f"Protocol: {report.protocol}.", "", "| " + " | ".join(cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += [f"Note: {n}." for n in report.notes]
    return "\n".join(lines) + "\n"


def plot_ndcg(report: OfflineReport, path: str | Path, k: int | None = None) -> Path:
    """Write a PNG bar chart of NDCG@k per model with its 95% interval, titled with the protocol.

    Args:
        report: the report.
        path: the PNG file to write (folders are created).
        k: cut-off (default the report's first).

    Returns:
        The path written.

    Raises:
        ConfigError: ``k`` is not one of the report's cut-offs.
        ShelfwiseError: the file cannot be written.

    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = report.ks[0] if k is None else k
    if k not in report.ks:
        raise ConfigError(f"k={k} is not among the report's cut-offs {list(report.ks)}")
    names = [m.name for m in report.models]
    vals = np.array([m.metrics[f"ndcg@{k}"].value for m in report.models])
    low = np.array([m.metrics[f"ndcg@{k}"].low for m in report.models])
    high = np.array([m.metrics[f"ndcg@{k}"].high for m in report.models])
    err = np.vstack([np.nan_to_num(vals - low), np.nan_to_num(high - vals)])
    colours = ["#9e9e9e" if m.role == "baseline" else "#1f77b4" for m in report.models]
    fig = Figure(figsize=(max(5.0, 1.1 * len(names) + 2.0), 4.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(np.arange(len(names)), vals, yerr=err, capsize=4, color=colours)
    ax.set_xticks(np.arange(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel(f"NDCG@{k} (95% bootstrap interval)")
    label = "SAMPLED negatives" if report.mode == "sampled" else "full ranking"
    ax.set_title(f"NDCG@{k}, {report.split}, {label}", fontsize=10)
    fig.text(0.01, 0.01, _wrap(f"Protocol: {report.protocol}", 110), fontsize=6.5, va="bottom")
    fig.subplots_adjust(bottom=0.26, top=0.9)
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png", dpi=120)
    except OSError as exc:
        raise ShelfwiseError(f"cannot write the plot to {out}: {exc}") from exc
    return out


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
