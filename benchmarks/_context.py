"""What every row gets: the run's mode (full or ``--quick``), the servers (started on first
use, stopped at the end), modelbus clients pointed at them, and LiteLLM when installed."""

from __future__ import annotations

import contextlib
import gc
import os
from types import ModuleType
from typing import Any

import attrs

from ._harness import Check
from ._rawserver import RawServerProcess
from ._servers import WireServerProcess

__all__ = ["API_KEY", "Context", "clean_environ", "freeze_heap", "request_count_check"]

# A placeholder key: the servers are local, and a real key in the environment is never sent.
API_KEY = "sk-bench-local"


def clean_environ(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default ``os.environ``) without modelbus/OpenAI settings of this machine,
    with the placeholder key and LiteLLM's local cost map (no download at import)."""
    src = os.environ if env is None else env
    out = {k: v for k, v in src.items() if not k.startswith(("MODELBUS_", "OPENAI_"))}
    out["OPENAI_API_KEY"] = API_KEY
    out["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    return out


def freeze_heap() -> None:
    """Move every object alive now out of the cyclic collector's reach (``gc.freeze``):
    LiteLLM's import leaves ~10^6 objects that every full collection would otherwise walk,
    a cost no contender would pay in an application without LiteLLM loaded."""
    gc.collect()
    gc.freeze()


@attrs.define
class Context:
    """Run-wide state handed to each row provider."""

    quick: bool = False
    use_litellm: bool = True
    stack: contextlib.ExitStack = attrs.field(factory=contextlib.ExitStack)
    _servers: dict[tuple[float, int | None], WireServerProcess] = attrs.field(factory=dict)
    _raw: dict[float, RawServerProcess] = attrs.field(factory=dict)
    _litellm: ModuleType | None = None
    _litellm_absent: str | None = None

    def scale(self, full: int, quick: int) -> int:
        """``full`` in a full run, ``quick`` with ``--quick``."""
        return quick if self.quick else full

    def server(self, latency_ms: float = 0.0, stream_chunks: int | None = None) -> str:
        """The base URL of a WireServer process with this latency (started once)."""
        key = (latency_ms, stream_chunks)
        srv = self._servers.get(key)
        if srv is None:
            srv = WireServerProcess(latency_ms=latency_ms, stream_chunks=stream_chunks)
            self.stack.enter_context(srv)
            self._servers[key] = srv
        return srv.base_url

    def raw_server(self, latency_ms: float = 0.0) -> RawServerProcess:
        """The raw asyncio server process (``_rawserver``) with this latency, started once:
        the floor's server, which counts the requests it answered."""
        srv = self._raw.get(latency_ms)
        if srv is None:
            srv = RawServerProcess(latency_ms=latency_ms)
            self.stack.enter_context(srv)
            self._raw[latency_ms] = srv
        return srv

    def servers(self) -> list[dict[str, Any]]:
        return [
            {"base_url": s.base_url, "latency_ms": s.latency_ms, "stream_chunks": s.stream_chunks}
            for s in self._servers.values()
        ] + [
            {"base_url": s.base_url, "latency_ms": s.latency_ms, "kind": "raw asyncio"}
            for s in self._raw.values()
        ]

    def config(
        self,
        base_url: str,
        cache: str = "none",
        connect_timeout_s: float | None = None,
        **caches: Any,
    ) -> dict[str, Any]:
        """A modelbus config (dict) using the ``openai`` provider on ``base_url``."""
        provider: dict[str, Any] = {"base_url": base_url}
        if connect_timeout_s is not None:
            provider["connect_timeout_s"] = connect_timeout_s
        cfg: dict[str, Any] = {
            "modelbus": {"provider": "openai", "cache": cache},
            "providers": {"openai": provider},
        }
        if caches:
            cfg["caches"] = caches
        return cfg

    def client(
        self,
        base_url: str,
        cache: str = "none",
        connect_timeout_s: float | None = None,
        **caches: Any,
    ) -> Any:
        """A ``modelbus.Client`` on ``base_url``, closed at the end of the run."""
        import modelbus

        c = modelbus.Client(self.config(base_url, cache, connect_timeout_s, **caches))
        self.stack.callback(c.close)
        return c

    def litellm(self) -> ModuleType | None:
        """The ``litellm`` module (telemetry and the cost-map download off), or ``None``
        when it is not installed; ``litellm_absent`` then says why."""
        if not self.use_litellm and self._litellm_absent is None:
            self._litellm_absent = "skipped (--quick or --no-litellm)"
        if self._litellm is None and self._litellm_absent is None:
            os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
            try:
                import litellm
            except ImportError as exc:
                self._litellm_absent = f"LiteLLM not installed ({exc.name or exc})"
                return None
            litellm.telemetry = False
            litellm.suppress_debug_info = True
            self._litellm = litellm
            freeze_heap()
        return self._litellm

    @property
    def litellm_absent(self) -> str:
        return self._litellm_absent or "LiteLLM not installed"

    def close(self) -> None:
        self.stack.close()
        self._servers.clear()
        self._raw.clear()


def request_count_check(srv: RawServerProcess, before: int, expected: int) -> Check:
    """The server answered exactly ``expected`` POSTs since it counted ``before``: no
    contender was served from anywhere else (a cache, a retry, a dropped call)."""
    got = srv.count() - before
    return Check(f"server saw {expected:,} requests", f"{got:,}", got == expected)
