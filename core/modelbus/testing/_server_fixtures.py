"""Discovery of the recorded wire fixtures (``tests/fixtures/wire`` in the repository).

Layout (see PROVENANCE.md in that directory): ``<provider>/<stem>.<ext>`` where the body
is ``.json`` (one JSON response), ``.sse`` (raw ``text/event-stream`` body),
``.chunks.jsonl`` (one stream chunk per line, no ``data:`` framing) or ``.jsonl`` (JSON
lines served as-is), and an optional sibling ``<stem>.headers.json`` holds
``status_code`` and ``response_headers``. A ``.headers.json`` without a body file is a
headers-only capture.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast, get_args

from attrs import frozen

__all__ = ["FixtureFile", "FixtureKind", "find_fixture", "fixtures_root", "wire_fixtures"]

FixtureKind = Literal["json", "sse", "chunks", "jsonl", "headers"]

ENV_VAR = "MODELBUS_WIRE_FIXTURES"
# Longest suffix first: ".chunks.jsonl" must win over ".jsonl".
_SUFFIXES: tuple[tuple[str, FixtureKind], ...] = (
    (".chunks.jsonl", "chunks"),
    (".headers.json", "headers"),
    (".jsonl", "jsonl"),
    (".json", "json"),
    (".sse", "sse"),
)
_ERROR_STATUS = re.compile(r"(?:^|/)error_(\d{3})_")


@frozen
class FixtureFile:
    """One recorded response body (or headers-only capture) under the fixtures root.

    ``name`` is the path relative to the root without suffix, e.g.
    ``"openai/chat_completion_tool_calls"``; it is what ``Reply.fixture`` accepts.
    """

    name: str
    path: Path
    kind: FixtureKind
    headers_path: Path | None

    @property
    def provider(self) -> str:
        """The top directory: ``openai``, ``azure``, ``ollama``, ``llamacpp``, ``vllm``."""
        return self.name.split("/", 1)[0]

    def meta(self) -> dict[str, Any]:
        """The sibling ``.headers.json`` as a dict (``{}`` when there is none)."""
        if self.headers_path is None:
            return {}
        return cast(dict[str, Any], json.loads(self.headers_path.read_text("utf-8")))

    @property
    def status_code(self) -> int:
        """HTTP status: ``status_code`` from the headers file, else ``NNN`` from an
        ``error_NNN_`` file name, else 500 for other ``error_*`` names (their source
        did not say), else 200."""
        recorded = self.meta().get("status_code")
        if isinstance(recorded, int):
            return recorded
        m = _ERROR_STATUS.search(self.name)
        if m:
            return int(m.group(1))
        return 500 if self.name.rsplit("/", 1)[-1].startswith("error_") else 200

    @property
    def response_headers(self) -> tuple[tuple[str, str], ...]:
        """Recorded response headers as (name, value) pairs, list values expanded.

        Verbatim, so they still contain framing headers (Content-Length,
        Transfer-Encoding, Content-Encoding) that describe the ORIGINAL transfer.
        """
        raw = self.meta().get("response_headers") or {}
        pairs: list[tuple[str, str]] = []
        for key, value in raw.items():
            values = value if isinstance(value, list) else [value]
            pairs.extend((key, str(v)) for v in values)
        return tuple(pairs)

    def read_bytes(self) -> bytes:
        """The body file's bytes (``b""`` for a headers-only capture)."""
        return b"" if self.kind == "headers" else self.path.read_bytes()


def _candidates() -> Iterator[Path]:
    env = os.environ.get(ENV_VAR)
    if env:
        yield Path(env)
        return
    # `<repo>/tests/fixtures/wire`: walk up from the CWD, then from this package (an
    # editable install of a checkout finds its own recordings wherever the tests run).
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for base in (start, *start.parents):
            yield base / "tests" / "fixtures" / "wire"


def fixtures_root() -> Path:
    """Directory holding the recorded wire fixtures.

    Lookup order: environment variable ``MODELBUS_WIRE_FIXTURES`` (used as-is: your own
    recordings laid out the same way), else the first ``<ancestor>/tests/fixtures/wire``
    found walking up from the current working directory and then from the installed
    ``modelbus.testing`` package (a checkout of modelbus finds its own recordings).

    Raises:
        FileNotFoundError: nothing found; the message names the variable and the paths
            tried.
    """
    tried: list[str] = []
    for path in _candidates():
        if path.is_dir():
            return path
        tried.append(str(path))
    raise FileNotFoundError(
        f"wire fixtures not found; set {ENV_VAR} to the directory "
        f"(tried: {', '.join(tried[:6])}{' ...' if len(tried) > 6 else ''})"
    )


def _split(relative: str) -> tuple[str, FixtureKind] | None:
    for suffix, kind in _SUFFIXES:
        if relative.endswith(suffix):
            return relative[: -len(suffix)], kind
    return None


def wire_fixtures(
    kind: FixtureKind | None = None, *, provider: str | None = None, root: Path | None = None
) -> list[FixtureFile]:
    """Every recorded fixture under ``root`` (default ``fixtures_root()``), sorted by name.

    ``kind`` keeps one kind: ``"json"``, ``"sse"``, ``"chunks"`` (``.chunks.jsonl``),
    ``"jsonl"`` (other JSON lines) or ``"headers"`` (headers-only captures; a headers
    file next to a body file belongs to that body and is not listed on its own).
    ``provider`` keeps one top directory (``"openai"``, ``"azure"``...). Meant for
    ``pytest.mark.parametrize`` so a new recording is covered without editing tests.

    Raises:
        ValueError: unknown ``kind``.
        FileNotFoundError: see ``fixtures_root``.
    """
    if kind is not None and kind not in get_args(FixtureKind):
        raise ValueError(
            f"wire_fixtures: unknown kind {kind!r}; use one of {get_args(FixtureKind)}"
        )
    base = root if root is not None else fixtures_root()
    found: dict[str, FixtureFile] = {}
    headers_only: dict[str, Path] = {}
    for path in sorted(base.rglob("*")):
        if not path.is_file():
            continue
        split = _split(path.relative_to(base).as_posix())
        if split is None:
            continue
        name, file_kind = split
        if file_kind == "headers":
            headers_only[name] = path
            continue
        sibling = path.parent / f"{name.rsplit('/', 1)[-1]}.headers.json"
        found[name] = FixtureFile(name, path, file_kind, sibling if sibling.is_file() else None)
    for name, path in headers_only.items():
        if name not in found:
            found[name] = FixtureFile(name, path, "headers", path)
    return [
        f
        for _, f in sorted(found.items())
        if (kind is None or f.kind == kind) and (provider is None or f.provider == provider)
    ]


def find_fixture(name: str | Path, *, root: Path | None = None) -> FixtureFile:
    """The fixture called ``name`` (``"openai/chat_stream_refusal"``, with or without its
    suffix), or a file path anywhere (an own recording laid out the same way).

    Raises:
        FileNotFoundError: no such fixture; the message lists close names.
    """
    path = Path(name)
    if path.is_absolute() or path.is_file():
        split = _split(path.name)
        if split is None or not path.is_file():
            raise FileNotFoundError(f"fixture file {str(path)!r} missing or of unknown type")
        stem, kind = split
        sibling = path.parent / f"{stem}.headers.json"
        return FixtureFile(stem, path, kind, sibling if sibling.is_file() else None)
    text = str(name)
    split = _split(text)
    wanted = split[0] if split else text
    files = wire_fixtures(root=root)
    for f in files:
        if f.name == wanted:
            return f
    close = [f.name for f in files if wanted.rsplit("/", 1)[-1][:12] in f.name][:5]
    raise FileNotFoundError(f"no wire fixture named {text!r}; similar: {close or 'none'}")
