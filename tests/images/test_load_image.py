"""``encoders.image.load_image`` refuses bomb headers before decoding any pixel."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from encoders.errors import EncoderError
from encoders.image import MAX_IMAGE_PIXELS, load_image

sys.path.insert(0, str(Path(__file__).parent))
from _pngs import png_bytes, png_declaring  # noqa: E402


@pytest.mark.parametrize(("width", "height", "match"), [
    (7_000, 7_000, f"7000x7000 pixels, over the limit of {MAX_IMAGE_PIXELS:,}"),  # < Pillow's
    (30_000, 30_000, "decompression bomb"),                                        # > Pillow's
])
def test_bomb_headers_are_refused(tmp_path, width, height, match):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(width, height))
    with pytest.raises(EncoderError, match=match):
        load_image(path)


def test_a_normal_picture_still_loads(tmp_path):
    path = tmp_path / "ok.png"
    path.write_bytes(png_bytes(3))
    assert load_image(path).size == (16, 16)
