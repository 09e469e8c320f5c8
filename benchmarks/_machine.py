"""What the figures were measured on: cores, CPU, memory, Python, package versions, the
commit, and the load of the machine when the run started and ended."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["PACKAGES", "load_average", "machine"]

PACKAGES = (
    "modelbus",
    "modelbus-openai",
    "modelbus-redis-cache",
    "modelbus-otel",
    "openai",
    "httpx",
    "httpx2",
    "aiohttp",
    "tiktoken",
    "redis",
    "rich",
    "opentelemetry-sdk",
    "litellm",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine(root: Path) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "cpu": _cpu_model(),
        "memory_bytes": _memory_bytes(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": versions,
        "commit": _git(root, "rev-parse", "HEAD"),
        "worktree_dirty": bool(dirty) if dirty is not None else None,
    }
