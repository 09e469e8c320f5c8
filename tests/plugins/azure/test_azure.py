"""The ``azure`` provider on the wire: deployment URLs, api-version, credentials (api-key,
bearer token, Entra ID), content filtering, settings from the environment."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import pytest

import modelbus
from modelbus import ChatRequest, Message, Secret
from modelbus.errors import AuthenticationError, BadRequestError, ConfigError, ContentFilterError
from modelbus.testing.server import Reply, WireServer, find_fixture
from modelbus_azure import (
    AzureOpenAIProvider,
    AzureSettings,
    content_filter,
    entra_token_provider,
)
from tests.plugins.azure.conftest import API_VERSION, AZURE_KEY, MakeAzure

OPENAI_KEY = "sk-openai-must-never-reach-azure"


def _no_openai_key(srv: WireServer) -> None:
    for r in srv.requests:
        assert all(OPENAI_KEY not in v for _, v in r.headers.raw), r.headers


def test_deployment_url_api_version_and_api_key(
    srv: WireServer, make_client: MakeAzure, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    client = make_client(deployments={"gpt-4o": "my-gpt4o"})
    resp = client.chat("hi", model="gpt-4o")
    list(client.stream("hi", model="gpt-4o-mini"))  # unmapped: used as deployment name
    a, b = srv.requests
    assert a.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert b.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    for r in (a, b):
        assert r.query == {"api-version": API_VERSION}
        assert r.headers["api-key"] == AZURE_KEY
        assert "authorization" not in r.headers
    assert a.json["model"] == "my-gpt4o"
    assert resp.model == "gpt-4o-2024-11-20"  # what Azure reports, not the deployment
    assert resp.provider == "azure"
    _no_openai_key(srv)


def test_embeddings_deployment(srv: WireServer, make_client: MakeAzure) -> None:
    client = make_client(
        deployments={"text-embedding-3-small": "emb-small"},
        embeddings_deployment="emb-main",
        embedding_batch_size=2,
    )
    resp = client.embed(["a", "b", "c"], model="text-embedding-3-small", dimensions=8)
    assert len(resp.vectors) == 3 and all(len(v) == 8 for v in resp.vectors)
    assert [r.path for r in srv.requests] == ["/openai/deployments/emb-main/embeddings"] * 2
    assert [r.json["input"] for r in srv.requests] == [["a", "b"], ["c"]]


def test_ad_token_sends_bearer_not_api_key(
    srv: WireServer, make_client: MakeAzure, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    make_client(api_key=None, ad_token="entra-token-1").chat("hi", model="gpt-4o")
    h = srv.requests[0].headers
    assert h["authorization"] == "Bearer entra-token-1"
    assert "api-key" not in h
    _no_openai_key(srv)


async def test_token_provider_sync_and_async(srv: WireServer) -> None:
    """An Entra ID token callable is asked per request; async calls ask from a worker
    thread, so a slow token refresh never blocks the event loop."""
    threads: list[str] = []

    def token() -> str:
        threads.append(threading.current_thread().name)
        return f"tok-{len(threads)}"

    p = AzureOpenAIProvider(
        AzureSettings(endpoint=srv.origin, api_key=None, ad_token=None, api_version=API_VERSION),
        token_provider=token,
    )
    req = ChatRequest(model="gpt-4o", messages=(Message("user", "hi"),))
    try:
        p.chat(req)
        await p.achat(req)
        [c async for c in p.astream(req)]
    finally:
        await p.aclose()
    assert [r.headers["authorization"] for r in srv.requests] == [
        "Bearer tok-1",
        "Bearer tok-2",
        "Bearer tok-3",
    ]
    assert threads[0] == threading.current_thread().name
    assert threads[1] != threading.current_thread().name
    assert p.auth_mode == "entra"


def test_token_provider_failure_is_an_authentication_error(srv: WireServer) -> None:
    def broken() -> str:
        raise RuntimeError("no credential found")

    p = AzureOpenAIProvider(
        AzureSettings(endpoint=srv.origin, api_version=API_VERSION), token_provider=broken
    )
    with pytest.raises(AuthenticationError, match="no credential found") as info:
        p.chat(ChatRequest(model="gpt-4o", messages=(Message("user", "hi"),)))
    assert "az login" in info.value.hint
    assert srv.requests == []
    p.close()


def test_entra_without_azure_identity_is_a_clear_error(
    srv: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # as if not installed
    with pytest.raises(ConfigError) as info:
        AzureOpenAIProvider(AzureSettings(endpoint=srv.origin, auth="entra"))
    assert "pip install 'modelbus-azure[entra]'" in str(info.value)
    assert info.value.key == "providers.azure.auth"


def test_entra_token_provider_names_the_azure_key_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    with pytest.raises(ConfigError) as info:
        entra_token_provider("https://cognitiveservices.azure.com/.default")
    assert info.value.key == "providers.azure.auth"


def test_the_provider_declares_embeddings_and_vision(srv: WireServer) -> None:
    caps = AzureOpenAIProvider(
        AzureSettings(endpoint=srv.origin, api_key=Secret("k"), api_version=API_VERSION)
    ).capabilities
    assert caps.embeddings and caps.vision
    assert "web_search_options" not in caps.params and "temperature" in caps.params


def test_no_credentials_at_all_falls_to_entra(
    srv: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    with pytest.raises(ConfigError, match="AZURE_OPENAI_API_KEY"):
        AzureOpenAIProvider(AzureSettings(endpoint=srv.origin))


def test_missing_endpoint_or_key_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="AZURE_OPENAI_ENDPOINT") as info:
        AzureOpenAIProvider(AzureSettings(api_key=Secret("k")))
    assert info.value.key == "providers.azure.endpoint"
    with pytest.raises(ConfigError, match="no key is set"):
        AzureOpenAIProvider(AzureSettings(endpoint="https://x.openai.azure.com", auth="api_key"))
    with pytest.raises(
        ConfigError, match="^auth = 'ad_token' but no token is set: set AZURE_OPENAI_AD_TOKEN"
    ) as info:
        AzureOpenAIProvider(AzureSettings(endpoint="https://x.openai.azure.com", auth="ad_token"))
    assert info.value.key == "providers.azure.ad_token"


def test_settings_from_environment(srv: WireServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", srv.origin)
    monkeypatch.setenv("AZURE_OPENAI_KEY", "older-name-key")  # the older variable name
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-01-01-preview")
    p = AzureOpenAIProvider()
    p.chat(ChatRequest(model="d1", messages=(Message("user", "hi"),)))
    r = srv.requests[0]
    assert r.headers["api-key"] == "older-name-key"
    assert r.query == {"api-version": "2025-01-01-preview"}
    p.close()


def test_cache_identity_names_endpoint_version_and_deployments(srv: WireServer) -> None:
    def ident(**kw: Any) -> str:
        kw.setdefault("api_version", API_VERSION)
        s = AzureSettings(endpoint="https://r.openai.azure.com/", api_key=Secret("secret-k"), **kw)
        return AzureOpenAIProvider(s).cache_identity

    a = ident(deployments={"gpt-4o": "d1"})
    assert "https://r.openai.azure.com" in a and API_VERSION in a and "gpt-4o=d1" in a
    assert "secret-k" not in a
    assert a != ident(deployments={"gpt-4o": "d2"})
    assert a != ident(deployments={"gpt-4o": "d1"}, api_version="2025-01-01-preview")


def test_cache_identity_carries_a_fingerprint_of_the_key_or_token() -> None:
    """issue 15: another key (a revoked one) never gets this key's cached answers."""

    def ident(**kw: Any) -> str:
        s = AzureSettings(endpoint="https://r.openai.azure.com", api_version=API_VERSION, **kw)
        return AzureOpenAIProvider(s).cache_identity

    k1 = ident(api_key=Secret("azure-key-planted-1"))
    k2 = ident(api_key=Secret("azure-key-planted-2"))
    t1 = ident(auth="ad_token", ad_token=Secret("azure-token-planted-1"))
    assert len({k1, k2, t1}) == 3
    assert all("|credential=" in i and "planted" not in i for i in (k1, k2, t1))
    entra = AzureOpenAIProvider(
        AzureSettings(endpoint="https://r.openai.azure.com", api_version=API_VERSION),
        token_provider=lambda: "entra-token-planted-xyz",
    )
    assert "|credential=" not in entra.cache_identity  # rotating tokens: no credential part


def test_a_fetched_entra_token_is_masked_in_errors(srv: WireServer) -> None:
    token = "eyJ-entra-token-planted-0123456789"
    srv.enqueue(Reply.error(401, f"token {token} expired"))
    p = AzureOpenAIProvider(
        AzureSettings(endpoint=srv.origin, api_version=API_VERSION, deployments={"gpt-4o": "d"}),
        token_provider=lambda: token,
    )
    with pytest.raises(AuthenticationError) as info:
        p.chat(ChatRequest(model="gpt-4o", messages=(Message("user", "hi"),)))
    assert token not in str(info.value) + repr(info.value) + json.dumps(info.value.body)
    p.close()


def test_content_filter_error_carries_categories(srv: WireServer, make_client: MakeAzure) -> None:
    srv.enqueue(Reply.fixture("azure/error_400_content_filter"))
    with pytest.raises(ContentFilterError) as info:
        make_client().chat("bad prompt", model="gpt-4o")
    e = info.value
    assert e.categories["sexual"] == {"filtered": True, "severity": "medium"}
    assert e.categories["violence"]["severity"] == "safe"
    assert e.status_code == 400 and e.code == "content_filter"
    assert len(srv.requests) == 1  # not retried


def test_finish_reason_content_filter_is_reported(srv: WireServer, make_client: MakeAzure) -> None:
    """An answer stopped by the filter keeps finish_reason "content_filter" and its
    verdicts (the recorded body with the answer's filter flipped, as Azure sends it)."""
    body = json.loads(find_fixture("azure/chat_completion_content_filter_results").read_bytes())
    choice = body["choices"][0]
    choice["finish_reason"] = "content_filter"
    choice["content_filter_results"]["violence"] = {"filtered": True, "severity": "high"}
    srv.enqueue(Reply.json(body))
    resp = make_client().chat("hi", model="gpt-4o")
    assert resp.finish_reason == "content_filter"
    cf = content_filter(resp)
    assert cf is not None and cf.filtered and cf.filtered_categories == ("violence",)


def test_content_filter_is_none_for_openai_style_answers(
    srv: WireServer, make_client: MakeAzure
) -> None:
    srv.enqueue(Reply.fixture("openai/chat_completion_after_tool_result"))
    resp = make_client().chat("hi", model="gpt-4o")
    assert content_filter(resp) is None


# Shape of Azure's "Models - List" answer (data-plane REST reference); the WireServer has
# no Azure model-list route, so the test scripts it.
AZURE_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "gpt-4o-2024-11-20",
            "object": "model",
            "status": "succeeded",
            "capabilities": {"chat_completion": True},
        }
    ],
}


def test_list_models_under_openai_path(srv: WireServer, make_client: MakeAzure) -> None:
    srv.enqueue(Reply.json(AZURE_MODELS))
    models = make_client().provider("azure").inner.list_models()
    assert [m["id"] for m in models] == ["gpt-4o-2024-11-20"]
    assert srv.requests[0].method == "GET" and srv.requests[0].path == "/openai/models"
    assert srv.requests[0].query == {"api-version": API_VERSION}
    assert srv.requests[0].headers["api-key"] == AZURE_KEY


def test_todays_parameters_are_sent_and_web_search_is_refused_by_name(make_client, srv):
    client = make_client()
    client.chat("hi", model="gpt-4o", service_tier="priority", prompt_cache_key="k", store=True)
    body = srv.requests[-1].json
    assert (body["service_tier"], body["prompt_cache_key"], body["store"]) == (
        "priority",
        "k",
        True,
    )
    sent = len(srv.requests)
    with pytest.raises(BadRequestError) as info:
        client.chat("news?", model="gpt-4o", web_search_options={})
    assert info.value.code == "unsupported_parameter" and "'azure'" in str(info.value)
    assert len(srv.requests) == sent


@pytest.mark.parametrize(
    ("settings", "key", "fragment"),
    [
        ({"api_key": "abc\u00e9def"}, "providers.azure.api_key", "U+00E9 at position 3"),
        ({"endpoint": "resource.openai.azure.com"}, "providers.azure.endpoint", "https://"),
        ({"default_headers": {"X-Team": "a\u2028b"}}, "providers.azure.default_headers", "X-Team"),
    ],
)
def test_settings_http_cannot_send_are_refused_with_the_config(
    settings: dict[str, object], key: str, fragment: str
) -> None:
    # An Azure key with a non-ASCII character, or an endpoint without its scheme, used to
    # pass `modelbus config check` and fail at the first call.
    base = {"endpoint": "https://x.openai.azure.com", "api_key": "k", "api_version": API_VERSION}
    config = {"modelbus": {"provider": "azure"}, "providers": {"azure": {**base, **settings}}}
    with pytest.raises(ConfigError) as info:
        modelbus.Client(config).provider("azure")
    assert info.value.key == key and fragment in str(info.value)
    assert "abc" not in str(info.value)
