"""Image sizes from ``data:`` URLs and the tokens OpenAI bills for an image.

Token rule from OpenAI's vision guide ("Calculating costs", platform.openai.com/docs/
guides/vision): ``detail: low`` costs 85 tokens; ``detail: high`` is first scaled to fit
in a 2048 x 2048 square (aspect kept), then scaled down so its shortest side is 768 px,
and costs 85 + 170 per 512-px tile. The guide's worked examples: 1024 x 1024 → 765,
2048 x 4096 → 1105.

Sizes are read from the PNG, GIF, JPEG and WebP headers in the URL's own bytes; nothing
is fetched over the network.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct

__all__ = [
    "HIGH_DETAIL_WORST_CASE",
    "image_size",
    "image_tokens",
    "tile_tokens",
]

_LOW = 85
_BASE = 85
_TILE = 170
# The largest high-detail image after resizing is 768 x 2048 (2 x 4 tiles).
HIGH_DETAIL_WORST_CASE = _BASE + _TILE * 8


def tile_tokens(width: int, height: int) -> int:
    """Tokens of a ``detail: high`` image of ``width`` x ``height`` pixels (see module doc).

    Images are only scaled down, never up: a 500 x 500 image is one tile (255 tokens).
    Raises ``ValueError`` for a non-positive size."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        s = 2048 / max(w, h)
        w, h = w * s, h * s
    if min(w, h) > 768:
        s = 768 / min(w, h)
        w, h = w * s, h * s
    return _BASE + _TILE * math.ceil(w / 512) * math.ceil(h / 512)


def image_tokens(url: str, detail: str | None) -> int:
    """Tokens of one ``image_url`` part: 85 for ``detail: low``; for ``high``, ``auto`` or
    unset (``auto`` may pick high, so this is the upper bound), the tile rule on the size
    read from a ``data:`` URL. An ``http(s)`` URL is not fetched and an unreadable image
    counts as :data:`HIGH_DETAIL_WORST_CASE` (1445 tokens), the most a high-detail image
    can cost."""
    if detail == "low":
        return _LOW
    size = image_size(url)
    if size is None:
        return HIGH_DETAIL_WORST_CASE
    return tile_tokens(*size)


def image_size(url: str) -> tuple[int, int] | None:
    """``(width, height)`` in pixels of a base64 ``data:`` URL holding a PNG, GIF, JPEG or
    WebP image; ``None`` for other URLs, other formats, or bytes too short to say."""
    if not url.startswith("data:"):
        return None
    head, sep, payload = url.partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    try:
        data = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        return None
    return _sniff(data)


def _sniff(b: bytes) -> tuple[int, int] | None:
    if b.startswith(b"\x89PNG\r\n\x1a\n") and len(b) >= 24 and b[12:16] == b"IHDR":
        w, h = struct.unpack(">II", b[16:24])
        return _positive(w, h)
    if b[:6] in (b"GIF87a", b"GIF89a") and len(b) >= 10:
        w, h = struct.unpack("<HH", b[6:10])
        return _positive(w, h)
    if b.startswith(b"\xff\xd8"):
        return _jpeg(b)
    if b[:4] == b"RIFF" and b[8:12] == b"WEBP":
        return _webp(b)
    return None


def _positive(w: int, h: int) -> tuple[int, int] | None:
    return (w, h) if w > 0 and h > 0 else None


# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(b: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(b)
    while i + 4 <= n:
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        (length,) = struct.unpack(">H", b[i + 2 : i + 4])
        if marker in _SOF:
            if i + 9 > n:
                return None
            h, w = struct.unpack(">HH", b[i + 5 : i + 9])
            return _positive(w, h)
        i += 2 + length
    return None


def _webp(b: bytes) -> tuple[int, int] | None:
    chunk = b[12:16]
    if chunk == b"VP8X" and len(b) >= 30:
        w = int.from_bytes(b[24:27], "little") + 1
        h = int.from_bytes(b[27:30], "little") + 1
        return _positive(w, h)
    if chunk == b"VP8L" and len(b) >= 25 and b[20] == 0x2F:
        bits = int.from_bytes(b[21:25], "little")
        return _positive((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8 " and len(b) >= 30 and b[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", b[26:30])
        return _positive(w & 0x3FFF, h & 0x3FFF)
    return None
