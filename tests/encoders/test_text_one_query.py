"""A single text (a shopper's query) takes a shorter path than a batch: same vector."""

from __future__ import annotations

import numpy as np


def test_one_text_encodes_as_in_a_batch(text_encoder) -> None:
    long_text = "waterproof jacket with a hood and many pockets " * 60  # past the 256-token cut
    for text in ("warm wool sweater", "x", long_text, "Ünïcödé café jacket"):
        one = text_encoder.encode([text])
        batch = text_encoder.encode([text, "a second text makes it a batch"])
        assert one.shape == (1, text_encoder.dim) and one.dtype == np.float32
        np.testing.assert_allclose(one[0], batch[0], atol=1e-5)
        assert abs(float(np.linalg.norm(one[0])) - 1.0) < 1e-5
