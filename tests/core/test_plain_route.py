"""``Engine.plain``: what the async driver's uncached call needs, worked out once per route
(``per_route.plain_route``), and the routes where something must run before the first
attempt, which take the full path every time."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

from modelbus import ChatRequest, ChatResponse, Client, Message, Usage
from modelbus._config.config import Config
from modelbus._engine.options import DEFAULT_OPTIONS, Call, call_options
from modelbus._engine.per_route import PlainRoute
from modelbus._engine.timeouts import AttemptLimits, set_limits
from modelbus._plugins.loading import load_plugins
from modelbus._plugins.registry import Registration
from modelbus.testing import FakeClock, FakeProvider, make_client
from modelbus.testing.contracts_provider import client_for


def _call(c: Any, model: str | None = None, timeout: float | None = None) -> Call:
    route = c.route(model)
    opts = DEFAULT_OPTIONS if timeout is None else call_options("bypass", None, (), None, timeout)
    return Call(route, ChatRequest(model=route.model, messages=()), opts, 0.0)


def test_a_plain_route_is_worked_out_once_from_the_routes_provider_and_quota() -> None:
    with make_client(FakeProvider(), {"modelbus": {"cache": "none"}}) as c:
        call = _call(c)
        plain = c.engine.plain(call)
        assert isinstance(plain, PlainRoute)
        provider = c.provider(call.route.provider)
        assert plain.achat == provider.achat
        assert plain.fresh is provider.fresh
        assert plain.quota is c.engine.retry_quota(call.route.provider)
        assert c.engine.plain(_call(c)) is plain  # the same route: looked up, not rebuilt


@pytest.mark.parametrize(
    "config",
    [
        {"modelbus": {"cache": "none", "max_cost_usd": 1.0}},
        {"modelbus": {"cache": "none"}, "rate_limits": {"fake": {"rpm": 600}}},
        {"modelbus": {"cache": "none"}, "retry_policies": {"exponential": {"deadline_s": 30}}},
        {"modelbus": {"cache": "none", "stream_idle_timeout_s": 5}},
    ],
    ids=["budget", "rate-limit", "deadline", "stream-idle-timeout"],
)
def test_a_route_with_something_to_run_before_sending_is_not_plain(config: Any) -> None:
    with make_client(FakeProvider(), config) as c:
        assert c.engine.plain(_call(c)) is None
        assert c.engine.plain(_call(c)) is None  # remembered as such


def test_a_models_timeout_makes_its_route_not_plain() -> None:
    config = {
        "modelbus": {"cache": "none"},
        "models": {"slow": {"provider": "fake", "model": "m", "timeout_s": 3}},
    }
    with make_client(FakeProvider(), config) as c:
        assert c.engine.plain(_call(c, "slow")) is None
        assert c.engine.plain(_call(c, "fake/m")) is not None


def test_a_calls_own_timeout_or_an_outer_attempt_takes_the_full_path() -> None:
    with make_client(FakeProvider(), {"modelbus": {"cache": "none"}}) as c:
        assert c.engine.plain(_call(c, timeout=5.0)) is None

        def inside_an_attempt() -> Any:
            set_limits(AttemptLimits())
            return c.engine.plain(_call(c))

        assert contextvars.copy_context().run(inside_an_attempt) is None
        assert c.engine.plain(_call(c)) is not None  # the route itself is plain


class Hung:
    """Never answers its first request; answers the next ones."""

    name = "hung"

    def __init__(self) -> None:
        self.calls = 0

    async def achat(self, request: ChatRequest) -> ChatResponse:
        self.calls += 1
        if self.calls == 1:
            await asyncio.Event().wait()
        return ChatResponse("r", "m", Message("assistant", "ok"), "stop", Usage(1, 1, 2))


async def test_a_models_timeout_still_bounds_an_async_attempt() -> None:
    """The route that is not plain runs its attempt under the retry runner's time limit:
    the hung first attempt times out and the retry answers."""
    hung = Hung()
    config = {
        "modelbus": {"cache": "none"},
        "models": {"m": {"provider": "hung", "model": "m", "timeout_s": 0.05}},
    }
    with client_for(hung, config, FakeClock()) as c:
        # (bounded here too: a route wrongly taken as plain would wait for ever)
        resp = await asyncio.wait_for(c.achat("hi", model="m"), 30)
    assert resp.attempts == 2 and hung.calls == 2


async def test_a_plain_routes_first_failure_is_retried_and_counted() -> None:
    fake = FakeProvider()
    fake.enqueue_error(503).enqueue_text("after")
    with make_client(fake, {"modelbus": {"cache": "none"}}, clock=FakeClock()) as c:
        assert c.engine.plain(_call(c)) is not None
        resp = await c.achat("x")
    assert resp.message.content == "after" and resp.attempts == 2


class Closable:
    """Counts its own calls; refuses them once closed."""

    name = "closable"

    def __init__(self) -> None:
        self.calls = 0
        self.closed = False

    async def achat(self, request: ChatRequest) -> ChatResponse:
        assert not self.closed, "called after close"
        self.calls += 1
        return ChatResponse("r", "m", Message("assistant", "ok"), "stop", Usage(1, 1, 2))

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("close", ["close", "aclose"])
async def test_a_call_after_close_uses_the_provider_built_anew(close: str) -> None:
    """Closing the client drops its providers (the next call builds them again): the
    plain route remembered for the first ones is dropped with them."""
    built: list[Closable] = []

    def factory() -> Closable:
        built.append(Closable())
        return built[-1]

    cfg = Config.from_dict({"modelbus": {"provider": "closable", "cache": "none"}})
    registry = load_plugins(cfg.modelbus.plugins.allow, cfg.modelbus.plugins.block).registry.copy()
    registry.add(Registration("providers", "closable", factory, plugin="test"))
    c = Client(cfg, clock=FakeClock().as_clock(), registry=registry)
    await c.achat("one", model="m")
    if close == "close":
        c.close()
    else:
        await c.aclose()
    await c.achat("two", model="m")
    await c.aclose()
    assert [p.calls for p in built] == [1, 1] and built[0].closed
