"""``modelbus doctor`` checks for the ``azure`` provider.

Endpoint and credentials: ``GET {endpoint}/openai/models?api-version=...``. Deployments:
Azure has no data-plane call that lists them, so each configured deployment gets a
request with an empty body, which costs nothing: an existing deployment rejects it with
400 (invalid body), a missing one answers 404 ``DeploymentNotFound``.
"""

from __future__ import annotations

from typing import Any

from modelbus.errors import BadRequestError, NotFoundError, ProviderError
from modelbus_openai._doctor import Row, check_endpoint_and_auth, timed

__all__ = ["check_azure", "probe_deployment"]


def probe_deployment(provider: Any, deployment: str, kind: str = "chat/completions") -> Row:
    """Whether ``deployment`` exists, by sending it an empty request (see module doc)."""
    what = f"deployment {deployment}"
    body: dict[str, Any] = {"messages": []} if kind == "chat/completions" else {"input": []}
    try:
        _, ms = timed(lambda: provider.post_json(f"/deployments/{deployment}/{kind}", body))
    except NotFoundError as exc:
        return (
            what,
            False,
            (f"not found (404 {exc.code or ''}): create it or fix [providers.azure] deployments"),
        )
    except BadRequestError:
        return what, True, "exists (it rejected an empty request, as expected)"
    except ProviderError as exc:
        return what, False, f"{exc.status_code or ''} {exc.message}".strip()
    return what, True, f"exists (answered in {ms:.0f} ms)"


def check_azure(provider: Any) -> list[Row]:
    """The ``azure`` provider's checks: endpoint, credentials (api-key or Entra ID token)
    and every configured deployment (``deployments`` values, ``embeddings_deployment``,
    the deployment of ``default_model``)."""
    p = getattr(provider, "inner", provider)
    where = f"{p.endpoint}/openai (api-version {p.api_version}, auth {p.auth_mode})"
    rows, _ = check_endpoint_and_auth(p, where)
    if not rows[1][1]:
        return rows
    chat = dict.fromkeys(p.deployments.values())
    if p.default_model:
        chat[p.wire_model(p.default_model)] = None
    for deployment in chat:
        rows.append(probe_deployment(p, deployment))
    if p.embeddings_deployment:
        rows.append(probe_deployment(p, p.embeddings_deployment, "embeddings"))
    if len(rows) == 2:
        rows.append(
            ("deployments", True, "none configured: model names are used as deployment names")
        )
    return rows
