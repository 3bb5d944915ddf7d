"""PNG makers for the image tests: distinct small pictures and bomb headers."""

from __future__ import annotations

import io
import struct
import zlib


def png_bytes(n: int, size: int = 16) -> bytes:
    """A distinct PNG for each ``n`` (a colour and a stripe)."""
    from PIL import Image, ImageDraw

    rgb = ((n * 67) % 256, (n * 131 + 40) % 256, (n * 29 + 90) % 256)
    img = Image.new("RGB", (size, size), rgb)
    ImageDraw.Draw(img).rectangle([0, n % size, size - 1, n % size], fill=(255 - rgb[0], 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG file whose header declares ``width x height`` pixels (a bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))
