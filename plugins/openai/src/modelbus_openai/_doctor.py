"""``modelbus doctor`` checks for OpenAI-compatible providers.

A check gets the provider (the plugin's object, or the core's adapter around it) and
returns rows ``(what, ok, detail)``. Nothing here costs tokens: the endpoint and the key
are checked with ``GET /models``, a model with ``GET /models/{model}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from modelbus.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
)

__all__ = ["Row", "check_endpoint_and_auth", "check_openai", "timed"]

Row = tuple[str, bool, str]
T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and its wall time in milliseconds."""
    t0 = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t0) * 1000


def _short(exc: ProviderError) -> str:
    status = f"{exc.status_code} " if exc.status_code is not None else ""
    return f"{status}{exc.message} — {exc.hint}"


def check_endpoint_and_auth(provider: Any, where: str) -> tuple[list[Row], list[dict[str, Any]]]:
    """Rows for "endpoint" and "auth" from one ``GET /models`` (``where`` names the URL in
    the details), plus the model objects listed (empty when the call failed)."""
    try:
        models, ms = timed(provider.list_models)
    except (APIConnectionError, APITimeoutError) as exc:
        return [
            ("endpoint", False, f"{where}: {_short(exc)}"),
            ("auth", False, "not checked: the endpoint did not answer"),
        ], []
    except (AuthenticationError, PermissionDeniedError) as exc:
        return [("endpoint", True, f"{where} answered"), ("auth", False, _short(exc))], []
    except ProviderError as exc:
        return [
            ("endpoint", False, f"{where}: {_short(exc)}"),
            ("auth", False, "not checked: the model list failed"),
        ], []
    return [
        ("endpoint", True, f"{where} answered GET /models in {ms:.0f} ms"),
        ("auth", True, f"the credentials were accepted ({len(models)} models listed)"),
    ], models


def check_openai(provider: Any) -> list[Row]:
    """The ``openai`` provider's checks: endpoint reachable, key accepted, and the
    ``default_model`` (when set) available to this key."""
    p = getattr(provider, "inner", provider)
    rows, models = check_endpoint_and_auth(p, p.base_url)
    if not rows[1][1]:
        return rows
    if p.default_model:
        listed = {m.get("id") for m in models}
        if p.default_model in listed:
            rows.append((f"model {p.default_model}", True, "listed by GET /models"))
        else:
            try:
                p.retrieve_model(p.default_model)
                rows.append((f"model {p.default_model}", True, "GET /models/{id} answered"))
            except NotFoundError as exc:
                rows.append((f"model {p.default_model}", False, _short(exc)))
            except ProviderError as exc:
                rows.append((f"model {p.default_model}", False, _short(exc)))
    return rows
