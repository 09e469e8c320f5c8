"""``server = "auto"`` as the client builds it (``plugin.make_lazy_provider``): nothing is
probed or loaded until a call needs it, so a cache hit (``modelbus chat`` run twice)
probes nothing, and the cache key still tells configurations apart (issue 13)."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

import modelbus
from modelbus.testing.server import Reply, WireServer, find_fixture
from modelbus_local import _probe, plugin
from modelbus_local._auto import AutoProvider, embedded_fallback
from modelbus_local._embedded import EmbeddedProvider
from modelbus_local._settings import LocalSettings

PROMPT = "What is the capital of France?"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Probes run and backends built, counted; the presets point at a closed port and the
    machine's provider settings are out of the way (nothing configured)."""
    for k in list(os.environ):
        if k.startswith(("MODELBUS_", "OPENAI_", "AZURE_OPENAI_")):
            monkeypatch.delenv(k)
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    monkeypatch.setattr(plugin, "preset_candidates", lambda: [("ollama", dead)])
    n = {"probes": 0, "backends": 0}
    probe, resolve = _probe.probe_servers, plugin.resolve_auto

    def counted_probe(*a: Any, **k: Any) -> Any:
        n["probes"] += 1
        return probe(*a, **k)

    def counted_resolve(*a: Any, **k: Any) -> Any:
        n["backends"] += 1
        return resolve(*a, **k)

    monkeypatch.setattr(_probe, "probe_servers", counted_probe)
    monkeypatch.setattr(plugin, "resolve_auto", counted_resolve)
    return n


def config(tmp_path: Path, model_path: Path) -> dict[str, Any]:
    """No provider named: ``local`` is the default; a sqlite cache outlives the client, as
    it outlives a ``modelbus chat`` process."""
    return {
        "modelbus": {"cache": "sqlite"},
        "caches": {"sqlite": {"path": str(tmp_path / "cache.db")}},
        "providers": {"local": {"model_path": str(model_path), "n_ctx": 256, "seed": 1}},
    }


async def test_a_cache_hit_probes_and_builds_nothing(
    tmp_path: Path, tiny_model_path: Path, counts: dict[str, int]
) -> None:
    cfg = config(tmp_path, tiny_model_path)
    with modelbus.Client(cfg) as first:
        assert isinstance(first.provider("local").inner, AutoProvider)
        assert counts == {"probes": 0, "backends": 0}  # built, not probed
        r = first.chat(PROMPT, max_tokens=4)
    assert not r.cached and counts == {"probes": 1, "backends": 1}
    assert r.model == tiny_model_path.stem
    with modelbus.Client(cfg) as second:  # the next process
        hit = second.chat(PROMPT, max_tokens=4)
        s = second.stream(PROMPT, max_tokens=4)
        with s:
            streamed = "".join(c.content or "" for c in s)
        ahit = await second.achat(PROMPT, max_tokens=4)
        auto = second.provider("local").inner
        assert auto.resolved is None
    assert hit.cached and s.response.cached and ahit.cached
    assert hit.content == streamed == ahit.content == r.content
    assert counts == {"probes": 1, "backends": 1}


def test_the_key_names_the_configured_fallback_file(
    tmp_path: Path, tiny_model_path: Path, counts: dict[str, int]
) -> None:
    # same file name (so the same model name), another file: not the same model
    other = tmp_path / "other" / tiny_model_path.name
    other.parent.mkdir()
    shutil.copy(tiny_model_path, other)
    with modelbus.Client(config(tmp_path, tiny_model_path)) as c:
        c.chat(PROMPT, max_tokens=4)
    with modelbus.Client(config(tmp_path, other)) as c:
        r = c.chat(PROMPT, max_tokens=4)
    assert not r.cached and counts["probes"] == 2
    a = AutoProvider(LocalSettings(model_path=str(tiny_model_path)), resolve=plugin.resolve_auto)
    b = AutoProvider(LocalSettings(model_path=str(other)), resolve=plugin.resolve_auto)
    assert a.cache_identity != b.cache_identity
    assert a.default_model == b.default_model == tiny_model_path.stem


def test_the_embedded_fallback_runs_on_the_first_call(
    tiny_model_path: Path, counts: dict[str, int]
) -> None:
    p = plugin.make_lazy_provider(LocalSettings(model_path=str(tiny_model_path), n_ctx=256))
    assert isinstance(p, AutoProvider) and p.resolved is None
    assert p.count_text  # an attribute of the backend: resolves it
    assert isinstance(p.resolved, EmbeddedProvider) and counts["probes"] == 1
    assert p.token_counter.count_text("hello", p.default_model) > 0
    assert counts["probes"] == 1  # once


def test_a_server_that_answers_gets_the_request_for_its_own_model(
    wire_server: WireServer, counts: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = wire_server
    monkeypatch.setattr(plugin, "preset_candidates", lambda: [("llamacpp", srv.base_url)])
    srv.set_default(
        Reply.json({"object": "list", "data": [{"id": "tiny", "object": "model"}]}),
        path="/v1/models",
    )
    body = json.loads(find_fixture("ollama/chat_completion").read_bytes())
    srv.set_default(Reply.json(body), path="/v1/chat/completions")
    settings = LocalSettings(n_ctx=256)
    with modelbus.Client({"modelbus": {"cache": "none"}}) as c:
        route = c.route(None)
        assert (route.provider, route.model) == ("local", embedded_fallback(settings)[0])
        assert counts["probes"] == 0
        r = c.chat(PROMPT)
    sent = [q.json for q in srv.requests if q.path == "/v1/chat/completions"]
    assert sent[0]["model"] == "tiny"  # the server's model, not the embedded file's name
    assert r.provider == "local" and r.model == body["model"]


def test_an_auto_base_url_that_does_not_answer_fails_the_call_naming_it(
    counts: dict[str, int],
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    cfg = {
        "modelbus": {"cache": "none", "retry_policy": "none"},
        "providers": {"local": {"base_url": url, "model": "m"}},
    }
    with modelbus.Client(cfg) as c, pytest.raises(modelbus.errors.APIConnectionError) as info:
        c.chat(PROMPT)
    assert f"GET {url}/models" in str(info.value)
