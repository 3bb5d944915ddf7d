from __future__ import annotations

import numpy as np
import pytest

from encoders.errors import ConfigError, EncoderError
from encoders.text import TextEncoder


def test_default_model_is_384d_unit_vectors(text_encoder):
    assert text_encoder.dim == 384
    assert text_encoder.name == "all-MiniLM-L6-v2"
    vecs = text_encoder.encode(["red leather handbag", "blue running shoes", "a lamp"])
    assert vecs.shape == (3, 384)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_semantics_synonyms_closer_than_unrelated(text_encoder):
    bag, purse, shoes = text_encoder.encode(
        ["red leather handbag", "crimson leather purse", "blue running shoes"]
    )
    assert float(bag @ purse) > float(bag @ shoes) + 0.1


def test_empty_input_gives_zero_rows(text_encoder):
    out = text_encoder.encode([])
    assert out.shape == (0, 384)
    assert out.dtype == np.float32


def test_batching_does_not_change_results(text_encoder):
    texts = [f"product number {i}" for i in range(7)]
    np.testing.assert_allclose(
        text_encoder.encode(texts, batch_size=2), text_encoder.encode(texts), atol=1e-5
    )


@pytest.mark.parametrize(
    ("texts", "kwargs", "match"),
    [
        ("a bare string", {}, "sequence of strings"),
        (["ok", 3], {}, r"texts\[1\] must be a str"),
        (["ok"], {"batch_size": 0}, "batch_size must be a positive integer"),
    ],
)
def test_bad_encode_arguments(text_encoder, texts, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        text_encoder.encode(texts, **kwargs)


def test_missing_model_folder_names_the_model(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(EncoderError, match="no-such-model.*not found.*'default'"):
        TextEncoder(missing)


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "junk.txt").write_text("not a model")
    with pytest.raises(EncoderError, match="cannot load text model"):
        TextEncoder(str(tmp_path))


def test_model_by_local_path_matches_default(text_encoder):
    from encoders.text import default_text_model_path

    by_path = TextEncoder(default_text_model_path())
    assert by_path.name == str(default_text_model_path())
    np.testing.assert_allclose(
        by_path.encode(["wool scarf"]), text_encoder.encode(["wool scarf"]), atol=1e-5
    )
