from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from encoders.aligned import AlignedImageEncoder, recall_at_k, train_image_aligner
from encoders.errors import ConfigError, EncoderError
from encoders.image import ImageEncoder


def test_aligner_learns_colour_and_shape(trained_aligner, shapes_data):
    encoder, report = trained_aligner
    print(f"aligner report: {report}")
    assert report.n_train + report.n_holdout == 300
    assert report.n_holdout == 90
    assert report.epochs == 8
    assert np.isfinite(report.final_loss)
    # 32 distinct captions among 90 held-out products: chance recall@10 is about 0.3
    assert report.recall_at_10 >= 0.9
    assert isinstance(encoder, ImageEncoder)
    assert encoder.dim == 384
    assert encoder.name.startswith("aligned-cnn-") and len(encoder.name) == len("aligned-cnn-") + 12


def test_aligned_outputs_are_unit_vectors_near_own_caption(trained_aligner, shapes_data):
    encoder, _ = trained_aligner
    images, texts, vectors = shapes_data
    out = encoder.encode(images[:20], batch_size=7)
    assert out.shape == (20, 384)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # the image lands nearer its own caption than the average caption
    sims = out @ vectors[:20].T
    assert float(np.diag(sims).mean()) > float(sims.mean()) + 0.05
    assert encoder.encode([]).shape == (0, 384)


def test_training_is_seeded(shapes_data):
    images, _, vectors = shapes_data
    kwargs = {"epochs": 1, "batch_size": 32, "seed": 3, "num_threads": 1}
    a, ra = train_image_aligner(images[:64], vectors[:64], **kwargs)
    b, rb = train_image_aligner(images[:64], vectors[:64], **kwargs)
    assert a.name == b.name
    assert ra.final_loss == rb.final_loss


def test_save_load_round_trip(trained_aligner, shapes_data, tmp_path):
    encoder, _ = trained_aligner
    images = shapes_data[0][:10]
    encoder.save(tmp_path / "model")
    assert (tmp_path / "model" / "weights.pt").is_file()
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["out_dim"] == 384 and config["name"] == encoder.name
    loaded = AlignedImageEncoder.load(tmp_path / "model")
    assert loaded.name == encoder.name
    np.testing.assert_array_equal(loaded.encode(images), encoder.encode(images))


def test_encode_from_files(trained_aligner, shapes_data, tmp_path):
    encoder, _ = trained_aligner
    img = shapes_data[0][0]
    img.save(tmp_path / "a.png")
    img.resize((128, 96)).save(tmp_path / "big.png")
    out = encoder.encode([tmp_path / "a.png", str(tmp_path / "big.png"), img])
    np.testing.assert_allclose(out[0], out[2], atol=1e-6)
    assert out.shape == (3, 384)


def test_corrupt_weights_file(trained_aligner, tmp_path):
    encoder, _ = trained_aligner
    folder = encoder.save(tmp_path / "model")
    (folder / "weights.pt").write_bytes(b"garbage, not a torch file")
    with pytest.raises(EncoderError, match=r"weights '.*weights\.pt' are corrupt or unreadable"):
        AlignedImageEncoder.load(folder)


def test_tampered_weights_detected(trained_aligner, tmp_path):
    import torch

    encoder, _ = trained_aligner
    folder = encoder.save(tmp_path / "model")
    state = torch.load(folder / "weights.pt", weights_only=True)
    key = next(k for k in state if k.endswith("weight"))
    state[key] = state[key] + 1.0
    torch.save(state, folder / "weights.pt")
    with pytest.raises(EncoderError, match="do not match the recorded name"):
        AlignedImageEncoder.load(folder)


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda f: (f / "weights.pt").unlink(), r"weights\.pt' not found"),
        (lambda f: (f / "config.json").unlink(), r"config\.json' not found"),
        (lambda f: (f / "config.json").write_text("{broken"), "config .* is corrupt"),
        (lambda f: (f / "config.json").write_text('{"format": "other"}'), "not an aligned image"),
    ],
)
def test_load_bad_folder(trained_aligner, tmp_path, setup, match):
    folder = trained_aligner[0].save(tmp_path / "model")
    setup(folder)
    with pytest.raises(EncoderError, match=match):
        AlignedImageEncoder.load(folder)


@pytest.mark.parametrize(
    ("n_images", "vectors", "kwargs", "match"),
    [
        (4, np.zeros((3, 8)), {}, "text_vectors has 3 rows but images has 4"),
        (4, np.zeros(8), {}, r"text_vectors must have shape \(n, d\)"),
        (4, np.ones((4, 8)), {"epochs": 0}, "epochs must be a positive integer"),
        (4, np.ones((4, 8)), {"batch_size": 1}, "batch_size must be an integer >= 2"),
        (4, np.ones((4, 8)), {"holdout": 1.0}, r"holdout must be in \[0, 1\)"),
        (4, np.ones((4, 8)), {"temperature": 0}, "temperature must be a positive number"),
        (4, np.full((4, 8), np.nan), {}, "NaN"),
        (1, np.ones((1, 8)), {}, "at least 2 products"),
        (4, np.ones((4, 8)), {"num_threads": 0}, "num_threads must be a positive integer"),
    ],
)
def test_bad_training_arguments(n_images, vectors, kwargs, match):
    images = [Image.new("RGB", (8, 8))] * n_images
    with pytest.raises(ConfigError, match=match):
        train_image_aligner(images, vectors, **kwargs)


def test_missing_training_image_is_named(tmp_path):
    with pytest.raises(EncoderError, match="gone.png' not found"):
        train_image_aligner([tmp_path / "gone.png", tmp_path / "b.png"], np.eye(2), epochs=1)


def test_recall_at_k_known_answer():
    t = np.eye(4, dtype=np.float32)
    assert recall_at_k(t, t, k=1) == 1.0
    assert recall_at_k(t[[1, 0, 2, 3]], t, k=1) == 0.5
    # identical captions tie and do not push each other out
    dup = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    assert recall_at_k(dup, dup, k=1) == 1.0
