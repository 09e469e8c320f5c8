"""``modelbus doctor`` checks of the ``openai`` provider against the WireServer."""

from __future__ import annotations

import socket

from modelbus.testing.server import Reply, WireServer
from modelbus_openai._doctor import check_openai
from tests.plugins.openai.conftest import MakeClient


def test_all_good(srv: WireServer, make_client: MakeClient) -> None:
    client = make_client(default_model="gpt-4o")
    rows = check_openai(client.provider("openai"))  # the core's adapter is accepted
    assert [(what, ok) for what, ok, _ in rows] == [
        ("endpoint", True),
        ("auth", True),
        ("model gpt-4o", True),
    ]
    assert "3 models listed" in rows[1][2]
    assert all(r.method == "GET" for r in srv.requests)  # nothing billed


def test_bad_key(srv: WireServer, make_client: MakeClient) -> None:
    srv.enqueue(Reply.fixture("openai/error_401_invalid_api_key"))
    rows = check_openai(make_client().provider("openai").inner)
    assert rows[0][:2] == ("endpoint", True)
    assert rows[1][:2] == ("auth", False) and "401" in rows[1][2]
    assert len(rows) == 2


def test_unreachable_endpoint(make_client: MakeClient) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rows = check_openai(make_client(base_url=f"http://127.0.0.1:{port}/v1").provider("openai"))
    assert [(w, ok) for w, ok, _ in rows] == [("endpoint", False), ("auth", False)]
    assert f"127.0.0.1:{port}" in rows[0][2]


def test_default_model_not_available(srv: WireServer, make_client: MakeClient) -> None:
    rows = check_openai(make_client(default_model="gpt-9").provider("openai"))
    assert rows[2][:2] == ("model gpt-9", False)
    assert "404" in rows[2][2]
    assert [r.path for r in srv.requests] == ["/v1/models", "/v1/models/gpt-9"]
