"""``modelbus doctor`` checks of the ``azure`` provider against the WireServer."""

from __future__ import annotations

from modelbus.testing.server import Reply, WireServer
from modelbus_azure._doctor import check_azure
from tests.plugins.azure.conftest import MakeAzure
from tests.plugins.azure.test_azure import AZURE_MODELS

# Azure's answer for a deployment name that does not exist.
DEPLOYMENT_NOT_FOUND = {
    "error": {
        "code": "DeploymentNotFound",
        "message": "The API deployment for this resource does not exist. If you created the "
        "deployment within the last 5 minutes, please wait a moment and try again.",
    }
}


def test_endpoint_auth_and_deployments(srv: WireServer, make_client: MakeAzure) -> None:
    client = make_client(
        deployments={"gpt-4o": "prod-4o", "gpt-4o-mini": "gone"}, embeddings_deployment="emb"
    )
    srv.enqueue(
        Reply.json(AZURE_MODELS),
        Reply.default(),
        Reply.json(DEPLOYMENT_NOT_FOUND, status=404),
        Reply.default(),
    )
    rows = check_azure(client.provider("azure"))
    assert [(w, ok) for w, ok, _ in rows] == [
        ("endpoint", True),
        ("auth", True),
        ("deployment prod-4o", True),
        ("deployment gone", False),
        ("deployment emb", True),
    ]
    assert "DeploymentNotFound" in rows[3][2]
    probes = srv.requests[1:]
    assert [r.path for r in probes] == [
        "/openai/deployments/prod-4o/chat/completions",
        "/openai/deployments/gone/chat/completions",
        "/openai/deployments/emb/embeddings",
    ]
    assert probes[0].json == {"messages": []}  # an empty request: rejected, never billed


def test_rejected_key(srv: WireServer, make_client: MakeAzure) -> None:
    srv.enqueue(
        Reply.error(
            401, "Access denied due to invalid subscription key or wrong API endpoint.", code="401"
        )
    )
    rows = check_azure(make_client().provider("azure"))
    assert [(w, ok) for w, ok, _ in rows] == [("endpoint", True), ("auth", False)]


def test_no_deployments_configured(srv: WireServer, make_client: MakeAzure) -> None:
    srv.enqueue(Reply.json(AZURE_MODELS))
    rows = check_azure(make_client().provider("azure"))
    assert rows[-1][:2] == ("deployments", True)
