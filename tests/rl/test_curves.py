"""Learning curves: chunk means and the PNG plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shelfwise.rl import LearningCurve, plot_curves


def test_chunks_and_a_short_last_chunk(tmp_path: Path) -> None:
    c = LearningCurve.from_returns(np.arange(11.0), 4)
    assert c.episodes.tolist() == [4, 8, 11]
    assert c.mean_return.tolist() == [1.5, 5.5, 9.0]
    assert c.to_dict() == {"episodes": [4, 8, 11], "mean_return": [1.5, 5.5, 9.0]}
    out = plot_curves({"a": c}, tmp_path / "sub" / "c.png", reference={"random": 2.0})
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
