from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from encoders.errors import ConfigError, EncoderError
from encoders.image import ClipEncoder, ImageEncoder, load_image


@pytest.fixture(scope="module")
def clip(tiny_clip_dir):
    return ClipEncoder(tiny_clip_dir)


def test_load_image_converts_to_rgb(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("L", (10, 12), 100).save(path)
    img = load_image(path)
    assert img.mode == "RGB"
    assert img.size == (10, 12)
    assert load_image(Image.new("RGBA", (4, 4))).mode == "RGB"


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda p: p / "missing.png", EncoderError, r"image file '.*missing\.png' not found"),
        (lambda p: _write(p / "broken.png", b"not a png"), EncoderError,
         r"broken\.png' cannot be read as an image"),
        (lambda p: 42, ConfigError, "image must be a file path or a PIL.Image.Image"),
    ],
)
def test_load_image_bad_inputs(tmp_path, make, error, match):
    with pytest.raises(error, match=match):
        load_image(make(tmp_path))


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_clip_encoder_images_and_texts_share_a_unit_space(clip, tmp_path):
    assert isinstance(clip, ImageEncoder)
    assert clip.dim == 16
    assert clip.name == str(clip.name)
    path = tmp_path / "red.png"
    Image.new("RGB", (40, 50), (255, 0, 0)).save(path)
    images = [path, Image.new("RGB", (32, 32), (0, 0, 255)), Image.new("L", (20, 20), 50)]
    img_vecs = clip.encode(images, batch_size=2)
    txt_vecs = clip.encode_text(["a red square", "blue", ""])
    for vecs in (img_vecs, txt_vecs):
        assert vecs.shape == (3, 16)
        assert vecs.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    # batching is an implementation detail
    np.testing.assert_allclose(clip.encode(images, batch_size=8), img_vecs, atol=1e-5)
    assert clip.encode([]).shape == (0, 16)


def test_clip_encoder_names_a_missing_image(clip, tmp_path):
    with pytest.raises(EncoderError, match="nope.jpg' not found"):
        clip.encode([tmp_path / "nope.jpg"])


def test_clip_encoder_rejects_a_single_path(clip, tmp_path):
    with pytest.raises(ConfigError, match="not a single path"):
        clip.encode(str(tmp_path / "x.png"))


def test_clip_missing_checkpoint(tmp_path):
    with pytest.raises(EncoderError, match="CLIP model '.*no-clip' not found"):
        ClipEncoder(tmp_path / "no-clip")


def test_clip_folder_without_weights(tmp_path):
    with pytest.raises(EncoderError, match="cannot load CLIP model"):
        ClipEncoder(tmp_path)
