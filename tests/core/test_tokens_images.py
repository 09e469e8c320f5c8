"""Image tokens: sizes read from real image files, and OpenAI's vision pricing rule.

Expected numbers come from OpenAI's vision guide, "Calculating costs"
(platform.openai.com/docs/guides/vision): low detail 85 tokens; a 1024 x 1024 image in
high detail costs 765 tokens (scaled to 768 x 768, 4 tiles); a 2048 x 4096 image costs
1105 (scaled to 1024 x 2048 then 768 x 1536, 6 tiles).
"""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

import pytest

from modelbus import ImagePart, ImageURL, Message, TextPart
from modelbus._tokens.images import HIGH_DETAIL_WORST_CASE, image_size, image_tokens, tile_tokens
from modelbus.builtins.tokens import TiktokenCounter

IMAGES = Path(__file__).parent / "data" / "images"


def data_url(raw: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"


def png(width: int, height: int) -> bytes:
    """A complete, valid 1-bit greyscale PNG of the given size (all black)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes((width + 7) // 8)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("python.png", "image/png"),
        ("python.jpg", "image/jpeg"),
        ("python.gif", "image/gif"),
        ("python.webp", "image/webp"),
    ],
)
def test_sizes_are_read_from_real_files_of_each_format(name: str, mime: str) -> None:
    raw = (IMAGES / name).read_bytes()
    assert image_size(data_url(raw, mime)) == (16, 16)
    assert image_tokens(data_url(raw, mime), "high") == 85 + 170


@pytest.mark.parametrize(
    ("size", "tokens"),
    [
        ((1024, 1024), 765),
        ((2048, 4096), 1105),  # the guide's worked examples
        ((500, 500), 255),
        ((513, 500), 425),  # small images are not scaled up
        ((768, 2048), HIGH_DETAIL_WORST_CASE),
        ((8000, 100), 85 + 170 * 4),
    ],
)
def test_tile_rule(size: tuple[int, int], tokens: int) -> None:
    assert tile_tokens(*size) == tokens


def test_tile_rule_rejects_empty_images() -> None:
    with pytest.raises(ValueError, match="positive"):
        tile_tokens(0, 10)


def test_generated_png_of_the_guides_example_costs_1105() -> None:
    url = data_url(png(2048, 4096), "image/png")
    assert image_size(url) == (2048, 4096)
    assert image_tokens(url, "high") == 1105
    assert image_tokens(url, "auto") == 1105  # auto may pick high: counted as high
    assert image_tokens(url, "low") == 85


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/cat.png",
        "data:image/png;base64,iVBORw0KGgo=",  # a PNG signature and nothing else
        "data:image/png,not-base64",
        "data:image/bmp;base64," + base64.b64encode(b"BM" + bytes(60)).decode(),
    ],
)
def test_unknown_sizes_count_as_the_high_detail_worst_case(url: str) -> None:
    assert image_size(url) is None
    assert image_tokens(url, None) == HIGH_DETAIL_WORST_CASE == 1445
    assert image_tokens(url, "low") == 85


def test_jpeg_with_exif_before_the_frame_header() -> None:
    raw = (IMAGES / "python.jpg").read_bytes()
    exif = b"\xff\xe1" + struct.pack(">H", 2 + 3000) + bytes(3000)
    patched = raw[:2] + exif + raw[2:]
    assert image_size(data_url(patched, "image/jpeg")) == (16, 16)


def test_images_in_a_message_add_their_tokens() -> None:
    c = TiktokenCounter()
    text = Message("user", (TextPart("What is in this image?"),))
    url = data_url(png(1024, 1024), "image/png")
    with_image = Message(
        "user", (TextPart("What is in this image?"), ImagePart(ImageURL(url, "high")))
    )
    low = Message("user", (TextPart("What is in this image?"), ImagePart(ImageURL(url, "low"))))
    base = c.count_messages([text], "gpt-4o")
    assert c.count_messages([with_image], "gpt-4o") == base + 765
    assert c.count_messages([low], "gpt-4o") == base + 85
