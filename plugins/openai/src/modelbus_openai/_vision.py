"""Image inputs for vision models: URLs and local files as ``image_url`` content parts."""

from __future__ import annotations

import base64
import mimetypes
import os
from pathlib import Path
from typing import Literal

from modelbus.plugin import ImagePart, ImageURL

__all__ = ["SUPPORTED_IMAGE_TYPES", "image_part"]

# OpenAI vision guide, "Image input requirements": PNG, JPEG, WEBP, non-animated GIF.
SUPPORTED_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
# Same guide: "Up to 50 MB total payload size per request".
MAX_IMAGE_BYTES = 50 * 1024 * 1024


def image_part(
    source: str | os.PathLike[str],
    *,
    detail: Literal["low", "high", "auto"] | None = None,
) -> ImagePart:
    """An :class:`modelbus.ImagePart` for a message's ``content``.

    ``source`` is an ``http(s)://`` or ``data:`` URL (sent as is) or a local file path,
    which is read and sent as a base64 ``data:`` URL with the MIME type guessed from its
    extension (``.png`` → ``image/png``, ``.jpg``/``.jpeg`` → ``image/jpeg``, ``.webp``,
    ``.gif``). ``detail`` (``low``/``high``/``auto``) sets the resolution the model sees,
    and so the billed tokens.

    Raises ``FileNotFoundError`` for a missing file, ``ValueError`` for a file type
    OpenAI does not accept or a file over 50 MB (OpenAI's per-request payload limit).
    """
    if isinstance(source, str) and source.startswith(("http://", "https://", "data:")):
        return ImagePart(ImageURL(source, detail))
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {str(path)!r}")
    mime, _ = mimetypes.guess_type(path.name)
    if mime not in SUPPORTED_IMAGE_TYPES:
        raise ValueError(
            f"image {path.name!r} has type {mime or 'unknown'}; OpenAI vision accepts "
            f"{', '.join(SUPPORTED_IMAGE_TYPES)}"
        )
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise ValueError(f"image {path.name!r} is {size} bytes; the limit is {MAX_IMAGE_BYTES}")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return ImagePart(ImageURL(f"data:{mime};base64,{data}", detail))
