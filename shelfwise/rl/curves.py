"""Learning curves: mean training-episode return per chunk of episodes, and their plot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["LearningCurve", "plot_curves"]


@dataclass(frozen=True)
class LearningCurve:
    """Mean return of consecutive chunks of training episodes (in start order).

    Attributes:
        episodes: int64 ``(c,)`` episodes trained on at the end of each chunk.
        mean_return: float64 ``(c,)`` mean return of the chunk's episodes.

    """

    episodes: np.ndarray
    mean_return: np.ndarray

    @classmethod
    def from_returns(cls, returns: np.ndarray, chunk: int) -> LearningCurve:
        """Chunk per-episode returns ``(N,)`` (start order) into blocks of ``chunk``."""
        r = np.asarray(returns, dtype=np.float64)
        chunk = max(1, int(chunk))
        ends = np.arange(chunk, r.size + chunk, chunk).clip(max=r.size)
        ends = np.unique(ends[ends > 0])
        starts = np.concatenate([[0], ends[:-1]])
        means = np.array([r[a:b].mean() for a, b in zip(starts, ends, strict=True)])
        return cls(ends.astype(np.int64), means)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready lists."""
        return {"episodes": self.episodes.tolist(), "mean_return": self.mean_return.tolist()}


def plot_curves(curves: Mapping[str, LearningCurve], path: str | Path, *,
                title: str = "learning curves", reference: Mapping[str, float] | None = None
                ) -> Path:
    """Plot curves (one line each) and horizontal reference levels to a PNG file.

    Args:
        curves: label -> curve.
        path: output ``.png``.
        title: plot title.
        reference: label -> return level drawn as a dashed line (e.g. random, optimal).

    Returns:
        The path written.

    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    try:
        for label, c in curves.items():
            ax.plot(c.episodes, c.mean_return, marker=".", label=label)
        for label, level in (reference or {}).items():
            ax.axhline(level, linestyle="--", linewidth=1, color="grey")
            ax.text(0.01, level, f" {label}", transform=ax.get_yaxis_transform(),
                    fontsize=7, color="grey", va="bottom")
        ax.set_xlabel("training episodes")
        ax.set_ylabel("mean episode return (chunk)")
        ax.set_title(title)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(out)
    finally:
        plt.close(fig)
    return out
