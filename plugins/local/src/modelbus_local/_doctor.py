"""``modelbus doctor`` checks for the ``local`` provider.

A configured server must answer: ``GET <base_url>/models`` (no tokens spent). Building a
:class:`~modelbus_local._server.LocalServerProvider` asks nothing of the server, so
without this check a stopped server would pass. ``server = "auto"`` is probed as a call
would probe it; falling back to the embedded model is its documented behaviour (ok, with
the reason), but an ``auto`` ``base_url`` that does not answer fails. The embedded backend
reports the GGUF file it runs (its start already checked the file and llama-cpp-python).
"""

from __future__ import annotations

from typing import Any

from modelbus.errors import ProviderError

__all__ = ["check_local"]

Row = tuple[str, bool, str]


def _server_rows(p: Any) -> list[Row]:
    from modelbus_openai._doctor import check_endpoint_and_auth

    rows, models = check_endpoint_and_auth(p, f"{p.kind} server at {p.base_url}")
    if not rows[1][1]:
        return rows
    wanted = p.settings.model
    if wanted:
        listed = {str(m.get("id")) for m in models}
        ok = wanted in listed
        detail = "listed by the server" if ok else f"not listed; the server has: {sorted(listed)}"
        rows.append((f"model {wanted}", ok, detail))
    return rows


def check_local(provider: Any) -> list[Row]:
    """Rows for the ``local`` provider (the plugin's object or the core's adapter)."""
    from ._auto import AutoProvider
    from ._server import LocalServerProvider

    p = getattr(provider, "inner", provider)
    rows: list[Row] = []
    if isinstance(p, AutoProvider):
        try:
            p = p.backend()
        except ProviderError as exc:
            return [("endpoint", False, f"{exc.message} — {exc.hint}")]
        if isinstance(p, LocalServerProvider):
            rows.append(("auto", True, f"found the {p.kind} server at {p.base_url}"))
        else:
            rows.append(("auto", True, "no local server answered: the embedded backend runs"))
    if isinstance(p, LocalServerProvider):
        return rows + _server_rows(p)
    path = getattr(p, "model_path", None)
    rows.append(("model file", path is not None, f"embedded llama.cpp on {path}"))
    return rows
