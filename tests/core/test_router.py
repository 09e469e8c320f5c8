"""The pool router (``modelbus._pools.router``) as a pure decision, and driven over time by a
:class:`PoolProvider` on a fake clock: the three invariants of issue 17.

1. no request goes to a cooled-down deployment while another one is healthy;
2. weights hold in the long run;
3. a pool of one behaves as its deployment alone.

And the quota move: an account failure (out of credit, key refused) moves the call on
to a healthy deployment, and only when none is left ends it with the original error.
"""

from __future__ import annotations

import contextlib
import random

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelbus import adapt_provider
from modelbus._config.config import STRATEGIES
from modelbus._pools.provider import Deployment, PoolProvider
from modelbus._pools.router import (
    DeploymentView,
    account_failure,
    after_failure,
    choose,
    retry_hint,
)
from modelbus._pools.state import MemoryPoolState
from modelbus._retry.runner import is_retryable
from modelbus.errors import (
    AuthenticationError,
    BadRequestError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from modelbus.testing import FakeClock, FakeProvider

views = st.builds(
    DeploymentView,
    weight=st.floats(0.01, 100),
    cooldown_s=st.one_of(st.just(0.0), st.floats(0.001, 300)),
    in_flight=st.integers(0, 50),
    latency_s=st.one_of(st.none(), st.floats(0.001, 30)),
    headroom=st.one_of(st.none(), st.floats(0, 1)),
)
draws = st.floats(0, 1, exclude_max=True)


@given(st.sampled_from(STRATEGIES), st.lists(views, min_size=1, max_size=8), draws)
def test_a_cooled_deployment_is_never_chosen_while_another_is_healthy(strategy, vs, draw):
    i = choose(strategy, vs, draw)
    assert 0 <= i < len(vs)
    if any(v.cooldown_s <= 0 for v in vs):
        assert vs[i].cooldown_s <= 0
    else:  # all cooling: the one back first, as a call without a pool would go out
        assert vs[i].cooldown_s == min(v.cooldown_s for v in vs)


@given(st.sampled_from(STRATEGIES), views, draws)
def test_a_pool_of_one_always_uses_its_deployment(strategy, v, draw):
    assert choose(strategy, [v], draw) == 0
    assert retry_hint([v], 0, 5.0) == 5.0  # its Retry-After is left to the retry policy


@settings(max_examples=50)
@given(
    st.lists(st.integers(1, 20), min_size=1, max_size=6),
    st.lists(st.booleans(), min_size=6, max_size=6),
    st.integers(100, 2000),
)
def test_weights_hold_over_evenly_spread_draws(weights, cooling, n):
    # n draws spread evenly over [0, 1): each healthy deployment gets its weight's share
    # of them, give or take one draw.
    vs = [
        DeploymentView(float(w), 10.0 if c else 0.0) for w, c in zip(weights, cooling, strict=False)
    ]
    healthy = [i for i, v in enumerate(vs) if v.cooldown_s <= 0]
    counts = [0] * len(vs)
    for k in range(n):
        counts[choose("weighted", vs, (k + 0.5) / n)] += 1
    if not healthy:
        return
    total = sum(vs[i].weight for i in healthy)
    for i, v in enumerate(vs):
        expected = n * v.weight / total if i in healthy else 0
        assert abs(counts[i] - expected) <= 1


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_weights_hold_among_ties_with_a_seeded_random(strategy):
    # Every strategy breaks ties by weight: equal deployments share 3:1 over 20 000 draws.
    rng = random.Random(17)
    vs = [DeploymentView(3.0), DeploymentView(1.0)]
    first = sum(choose(strategy, vs, rng.random()) == 0 for _ in range(20_000))
    assert abs(first / 20_000 - 0.75) < 0.015


def test_strategies_prefer_what_they_say():
    idle, busy = DeploymentView(in_flight=0), DeploymentView(in_flight=3)
    assert choose("least-busy", [busy, idle], 0.0) == 1
    fast, slow, new = DeploymentView(latency_s=0.1), DeploymentView(latency_s=2.0), DeploymentView()
    assert choose("latency", [slow, fast], 0.0) == 1
    assert choose("latency", [slow, fast, new], 0.0) == 2  # unmeasured: measured first
    roomy, tight = DeploymentView(headroom=0.9), DeploymentView(headroom=0.1)
    assert choose("usage", [tight, roomy], 0.0) == 1
    assert choose("usage", [tight, DeploymentView()], 0.0) == 1  # no limit: all room
    with pytest.raises(ValueError, match="unknown pool strategy"):
        choose("fastest", [idle, busy], 0.0)
    with pytest.raises(ValueError, match="at least one"):
        choose("weighted", [], 0.0)


def test_retry_hint_is_cleared_only_while_another_deployment_is_healthy():
    cooled, healthy = DeploymentView(cooldown_s=5.0), DeploymentView()
    assert retry_hint([cooled, healthy], 0, 5.0) is None
    assert retry_hint([cooled, DeploymentView(cooldown_s=1.0)], 0, 5.0) == 5.0


def _account_error(kind: str) -> Exception:
    if kind == "quota":  # as modelbus-openai builds it
        return RateLimitError("quota", status_code=429, code="insufficient_quota", retryable=False)
    if kind == "401":
        return AuthenticationError("revoked", status_code=401)
    return PermissionDeniedError("no access", status_code=403)


@given(
    st.sampled_from(STRATEGIES),
    st.lists(views, min_size=1, max_size=8),
    st.data(),
    st.sampled_from(["quota", "401", "403"]),
    draws,
)
def test_an_account_failure_moves_on_only_while_another_deployment_is_healthy(
    strategy, vs, data, kind, draw
):
    failed = data.draw(st.integers(0, len(vs) - 1))
    err = _account_error(kind)
    assert account_failure(err) and not is_retryable(err)  # alone: the call ends
    f = after_failure(vs, failed, err, cooldown_s=5.0, account_cooldown_s=600.0)
    assert f.cooldown_s == 600.0
    healthy_other = any(v.cooldown_s <= 0 for i, v in enumerate(vs) if i != failed)
    assert f.move_on is healthy_other
    after = [
        attrs.evolve(v, cooldown_s=f.cooldown_s) if i == failed else v for i, v in enumerate(vs)
    ]
    nxt = choose(strategy, after, draw)
    if f.move_on:
        # the next attempt goes to a healthy deployment, after the policy's own backoff
        assert nxt != failed and after[nxt].cooldown_s <= 0 and f.retry_after_s is None
        err.should_retry = True  # what the pool does with move_on
        assert is_retryable(err)
    else:  # nowhere to go: the original error, not retryable, ends the call
        assert not is_retryable(err)


@given(st.lists(views, min_size=2, max_size=8), st.floats(0.1, 7200))
def test_an_account_cooldown_honours_a_longer_retry_after_and_others_keep_theirs(vs, hint):
    quota = RateLimitError("q", status_code=429, code="insufficient_quota", retry_after_s=hint)
    assert after_failure(vs, 0, quota, cooldown_s=5, account_cooldown_s=600).cooldown_s == max(
        600, hint
    )
    slow = after_failure(
        vs, 0, RateLimitError("slow", retry_after_s=hint), cooldown_s=5, account_cooldown_s=600
    )
    assert slow.cooldown_s == hint and not slow.move_on  # retryable already
    bad = after_failure(
        vs, 0, BadRequestError("bad", status_code=400), cooldown_s=5, account_cooldown_s=600
    )
    assert bad.cooldown_s == 0 and not bad.move_on


# --- over time: a PoolProvider, FakeProviders and a FakeClock ---------------------------

events = st.lists(
    st.one_of(
        st.tuples(st.just("call"), st.integers(0, 2), st.sampled_from([None, 429, 500])),
        st.tuples(st.just("wait"), st.floats(0.1, 8)),
    ),
    min_size=1,
    max_size=40,
)


def _pool(clock: FakeClock, n: int = 3, strategy: str = "weighted", seed: int = 0):
    fakes = [FakeProvider(f"p{i}", clock=clock) for i in range(n)]
    adapted = {f.name: adapt_provider(f) for f in fakes}
    pool = PoolProvider(
        "m",
        "m",
        [Deployment(f"p{i}/m", f"p{i}", "m") for i in range(n)],
        strategy=strategy,
        cooldown_s=5.0,
        providers=adapted.__getitem__,
        state=MemoryPoolState(),
        now=clock.monotonic,
        random=random.Random(seed).random,
    )
    return pool, fakes


@settings(max_examples=60, deadline=None)
@given(events, st.sampled_from(STRATEGIES), st.integers(0, 1000))
def test_over_time_no_request_reaches_a_cooling_deployment_while_another_is_healthy(
    script, strategy, seed
):
    # A reference model of the cooldowns, kept from what the test scripted: each
    # request must go to a deployment healthy in it, unless none is.
    from modelbus._wire.types import ChatRequest, Message

    clock = FakeClock(100.0)
    pool, fakes = _pool(clock, strategy=strategy, seed=seed)
    until = [0.0, 0.0, 0.0]
    for step in script:
        if step[0] == "wait":
            clock.advance(step[1])
            continue
        _, who, status = step
        # the next request fails with `status` on whichever deployment it goes to
        if status is not None:
            for f in fakes:
                f.enqueue_error(status, "injected", headers={"Retry-After": str(who + 1)})
        before = [f.calls for f in fakes]
        now = clock.monotonic()
        with contextlib.suppress(RateLimitError, ServerError):
            pool.chat(ChatRequest(model="m", messages=(Message("user", "hi"),)))
        sent = [i for i, f in enumerate(fakes) if f.calls > before[i]]
        assert len(sent) == 1
        i = sent[0]
        if any(u <= now for u in until):
            assert until[i] <= now, (i, until, now)
        if status is not None:
            until[i] = max(until[i], now + who + 1)  # its Retry-After
            for f in fakes:  # the unused scripted errors
                f._script.clear()


def test_a_pool_of_one_provider_sends_every_attempt_to_its_deployment():
    from modelbus._wire.types import ChatRequest, Message

    clock = FakeClock()
    pool, (fake,) = _pool(clock, n=1)
    fake.enqueue_error(429, "slow", headers={"Retry-After": "30"})
    req = ChatRequest(model="m", messages=(Message("user", "hi"),))
    with pytest.raises(RateLimitError) as info:
        pool.chat(req)
    assert info.value.retry_after_s == 30  # untouched: nowhere else to go
    assert pool.chat(req).content == "echo: hi"  # cooling, but the only one: sent
    assert fake.calls == 2
