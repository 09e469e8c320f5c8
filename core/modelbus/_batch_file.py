"""The file side of batches (``modelbus batch IN.jsonl -o OUT.jsonl``): reading the
input, resuming from the output, appending output lines safely. The format is described
in ``modelbus._batch``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

import attrs

from ._batch import (
    BatchInputError,
    BatchItem,
    BatchResult,
    _check_unique,
    arun_batch,
    parse_line,
    progress_bar,
    run_batch,
)

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["BatchSummary", "abatch_file", "batch_file", "read_done", "read_items"]


@attrs.frozen
class BatchSummary:
    """What a batch run did: ``total`` input lines, ``skipped`` (already in the output),
    ``succeeded`` and ``failed`` this run, and the output ``path``."""

    total: int
    skipped: int
    succeeded: int
    failed: int
    path: Path | None = None

    def __str__(self) -> str:
        where = f" -> {self.path}" if self.path is not None else ""
        return (
            f"{self.total} requests: {self.succeeded} succeeded, {self.failed} failed, "
            f"{self.skipped} already done{where}"
        )


def read_items(path: Path) -> list[BatchItem]:
    """The requests of a JSONL file (blank lines skipped)."""
    items: list[BatchItem] = []
    with path.open(encoding="utf-8") as f:
        for line_no, text in enumerate(f, 1):
            if text.strip():
                items.append(parse_line(text, line_no, len(items)))
    _check_unique(items, str(path))
    return items


def read_done(path: Path) -> set[str]:
    """The custom_ids already in output file ``path`` (none when it does not exist).

    A last line without its newline is the torn write of a crash: it is cut off (and its
    request redone). Any other line that is not JSON raises :class:`BatchInputError`."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    if cut < len(data):
        with path.open("r+b") as f:
            f.truncate(cut)
        data = data[:cut]
    done: set[str] = set()
    for line_no, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            cid = json.loads(raw)["custom_id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BatchInputError(
                f"{path} line {line_no} is not an output line ({exc}); fix or remove it"
            ) from None
        done.add(cid)
    return done


class _Writer:
    """Appends output lines, each flushed to the OS at once (a crash of the process loses
    nothing written; a power cut may lose the page cache's last lines, which a re-run
    then redoes), and counts them."""

    def __init__(self, f: IO[str], after: Callable[[BatchResult], None]) -> None:
        self.f, self.after = f, after
        self.succeeded = self.failed = 0

    def __call__(self, r: BatchResult) -> None:
        self.f.write(json.dumps(r.to_openai(), ensure_ascii=False, default=str) + "\n")
        self.f.flush()
        if r.ok:
            self.succeeded += 1
        else:
            self.failed += 1
        self.after(r)


def _plan(in_path: Path, out_path: Path) -> tuple[list[BatchItem], list[BatchItem]]:
    items = read_items(in_path)
    done = read_done(out_path)
    return items, [it for it in items if it.custom_id not in done]


def batch_file(
    c: Client,
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    concurrency: int = 8,
    progress: bool = False,
) -> BatchSummary:
    """Run every request of JSONL ``in_path`` not yet in ``out_path`` and append their
    output lines there (threads; see the module doc). Raises
    :class:`BatchInputError` for a duplicate custom_id or a damaged output file."""
    src, dst = Path(in_path), Path(out_path)
    items, todo = _plan(src, dst)
    with progress_bar(len(todo), progress) as tick, dst.open("a", encoding="utf-8") as f:
        w = _Writer(f, tick)
        run_batch(c, todo, concurrency=concurrency, on_result=w)
    return BatchSummary(len(items), len(items) - len(todo), w.succeeded, w.failed, dst)


async def abatch_file(
    c: Client,
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    concurrency: int = 8,
    progress: bool = False,
) -> BatchSummary:
    """The async twin of :func:`batch_file` (``concurrency`` tasks)."""
    src, dst = Path(in_path), Path(out_path)
    items, todo = _plan(src, dst)
    with progress_bar(len(todo), progress) as tick, dst.open("a", encoding="utf-8") as f:
        w = _Writer(f, tick)
        await arun_batch(c, todo, concurrency=concurrency, on_result=w)
    return BatchSummary(len(items), len(items) - len(todo), w.succeeded, w.failed, dst)
