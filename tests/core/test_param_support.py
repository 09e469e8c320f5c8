"""Request fields a provider does not honour (``Capabilities.params``): dropped with a
note, renamed, or refused by name, before anything is sent, in every call mode; never
ignored in silence by the provider."""

from __future__ import annotations

from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from modelbus import Capabilities
from modelbus._catalog import Catalog
from modelbus._engine.adapt_params import adapt_request
from modelbus._engine.param_support import MUST_OBEY, fit_to_provider, supported_params
from modelbus._wire.types import ChatRequest, Message
from modelbus.errors import BadRequestError
from modelbus.plugin import REQUEST_PARAMS
from modelbus.testing import FakeProvider, make_client
from modelbus.testing.contracts_provider import DROPPABLE_SAMPLES, OBEYED_SAMPLES

TEXT_ONLY = frozenset({"temperature", "max_tokens", "stop", "extra_body"})
DROPPABLE = DROPPABLE_SAMPLES
OBEYED = OBEYED_SAMPLES


def req(**fields: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=(Message("user", "q"),), **fields)


def test_every_request_field_is_either_droppable_or_must_be_obeyed() -> None:
    """A new ChatRequest field must be classified here (and get a sample value)."""
    assert set(DROPPABLE) | MUST_OBEY | {"extra_body"} == REQUEST_PARAMS


def test_unsupported_fields_are_dropped_with_one_note_each() -> None:
    supported = frozenset({"temperature", "max_tokens"})
    out, notes = fit_to_provider(
        req(temperature=0.3, service_tier="flex", prompt_cache_key="k", extra_body={"x": 1}),
        supported,
        provider="local",
    )
    assert out == req(temperature=0.3, extra_body={"x": 1})  # extra_body always goes on
    assert notes == (
        "prompt_cache_key dropped (provider 'local' does not support it)",
        "service_tier dropped (provider 'local' does not support it)",
    )


def test_all_droppable_fields_go_and_max_completion_tokens_becomes_max_tokens() -> None:
    fields = {k: v for k, v in DROPPABLE.items() if k != "max_tokens"}
    out, notes = fit_to_provider(req(**fields), TEXT_ONLY, provider="p")
    assert out == req(temperature=0.5, max_tokens=16)
    assert "max_completion_tokens sent as max_tokens (p takes only that)" in notes
    assert len(notes) == len(fields) - 1  # temperature is honoured
    # an explicit max_tokens wins over the renamed one
    out, _ = fit_to_provider(req(max_tokens=5, max_completion_tokens=9), TEXT_ONLY, provider="p")
    assert (out.max_tokens, out.max_completion_tokens) == (5, None)


def test_nothing_to_fit_returns_the_request_itself() -> None:
    r = req(service_tier="flex")
    assert fit_to_provider(r, None, provider="p") == (r, ())
    plain = req(temperature=0.1)
    out, notes = fit_to_provider(plain, TEXT_ONLY, provider="p")
    assert out is plain and notes == ()


@pytest.mark.parametrize("policy", ["adapt", "error"])
@pytest.mark.parametrize("name", sorted(OBEYED))
def test_what_the_reply_must_obey_is_refused_in_any_policy(name: str, policy: str) -> None:
    supported = frozenset({"temperature"})
    with pytest.raises(BadRequestError) as info:
        fit_to_provider(req(**{name: OBEYED[name]}), supported, policy, provider="local")
    err = info.value
    assert err.code == "unsupported_parameter" and err.provider == "local"
    assert f"{name}={OBEYED[name]!r} is not supported by provider 'local'" in str(err)
    assert "provider that honours it" in (err.hint or "")


def test_the_error_policy_refuses_each_droppable_field_by_name() -> None:
    for name, value in DROPPABLE.items():
        with pytest.raises(BadRequestError) as info:
            fit_to_provider(req(**{name: value}), frozenset(), "error", provider="local")
        assert f"{name}={value!r} is not supported by provider 'local'" in str(info.value)
        assert 'unsupported_params = "adapt"' in (info.value.hint or "")


def test_the_catalog_step_runs_first_then_the_provider_step() -> None:
    entry = Catalog.load().get("gpt-5.6-sol")  # a reasoning model: no temperature
    out, notes = adapt_request(
        req(temperature=0.2, service_tier="flex"),
        entry,
        provider="p",
        params=frozenset({"temperature"}),
    )
    assert out == req()
    assert len(notes) == 2 and "service_tier dropped" in notes[1]


def test_capabilities_params_are_checked_and_kept_as_a_frozenset() -> None:
    caps = Capabilities(params=["temperature", "stop"])
    assert caps.params == frozenset({"temperature", "stop"})
    assert supported_params(type("P", (), {"capabilities": caps})()) == caps.params
    assert supported_params(object()) is None and Capabilities().params is None
    with pytest.raises(ValueError, match=r"\['temprature'\] are not ChatRequest fields"):
        Capabilities(params={"temprature"})


class TextOnly(FakeProvider):
    capabilities = Capabilities(params=TEXT_ONLY)


async def test_every_call_mode_drops_before_the_provider_and_notes_once() -> None:
    fake = TextOnly()
    for _ in range(4):
        fake.enqueue_text("ok")
    kw = {"service_tier": "flex", "prompt_cache_key": "k", "temperature": 0.3}
    with (
        make_client(fake, {"modelbus": {"cache": "none"}}) as c,
        structlog.testing.capture_logs() as logs,
    ):
        c.chat("a", **kw)
        await c.achat("b", **kw)
        list(c.stream("c", **kw))
        [x async for x in c.astream("d", **kw)]
    assert fake.calls == 4
    for r in fake.requests:
        assert (r.service_tier, r.prompt_cache_key, r.temperature) == (None, None, 0.3)
    adapted = sorted(e["detail"] for e in logs if e["event"] == "params_adapted")
    assert adapted == [  # once per kind of change and client, not per call
        "prompt_cache_key dropped (provider 'fake' does not support it)",
        "service_tier dropped (provider 'fake' does not support it)",
    ]


async def test_refusals_send_nothing_in_every_call_mode() -> None:
    fake = TextOnly()
    with make_client(fake, {"modelbus": {"cache": "none", "unsupported_params": "error"}}) as c:
        with pytest.raises(BadRequestError, match="service_tier='flex'"):
            c.chat("a", service_tier="flex")
        with pytest.raises(BadRequestError, match="service_tier='flex'"):
            await c.achat("b", service_tier="flex")
        with pytest.raises(BadRequestError, match="web_search_options"):
            list(c.stream("c", web_search_options={}))
        with pytest.raises(BadRequestError, match="web_search_options"):
            [x async for x in c.astream("d", web_search_options={})]
    assert fake.calls == 0


_VALUES = {name: [v] for name, v in DROPPABLE.items()}
for _name, _value in OBEYED.items():
    _VALUES.setdefault(_name, []).append(_value)
_VALUES["extra_body"] = [{"x": 1}]


@given(
    fields=st.fixed_dictionaries(
        {}, optional={name: st.sampled_from(values) for name, values in _VALUES.items()}
    ),
    params=st.sets(st.sampled_from(sorted(REQUEST_PARAMS))).map(frozenset),
    policy=st.sampled_from(["adapt", "error"]),
)
def test_no_unsupported_field_ever_survives(
    fields: dict[str, Any], params: frozenset[str], policy: str
) -> None:
    sent = req(**fields)
    try:
        out, notes = fit_to_provider(sent, params, policy, provider="p")
    except BadRequestError as err:
        # refused: for a field that is set and not honoured, named in the message
        named = str(err).split(": ", 1)[1].split("=", 1)[0]
        assert named in fields and named not in params
        return
    for name in REQUEST_PARAMS - params - {"extra_body"}:
        assert getattr(out, name) is None, name
    for name in params:  # honoured fields are sent as given (max_tokens may be filled in)
        if name != "max_tokens" or fields.get("max_tokens") is not None:
            assert getattr(out, name) == getattr(sent, name), name
    assert out.extra_body == sent.extra_body
    if policy == "error":
        assert (out, notes) == (sent, ())
