"""Issue 14, item 5: whether a call is logged follows structlog's configuration at the
time of the call (structlog's model: configuration belongs to the application and may come
late), not the one in force when the client was built."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from modelbus import Secret, _logging
from modelbus.testing import FakeProvider, make_client


@pytest.fixture
def unconfigured() -> Iterator[list[dict[str, Any]]]:
    """structlog as in a fresh process (nothing configured); yields the list a ``keep``
    processor (see :func:`_keep`) fills."""
    structlog.reset_defaults()
    _logging._configured = None
    yield []
    structlog.reset_defaults()
    _logging._configured = None


def _keep(seen: list[dict[str, Any]]) -> Any:
    def keep(_logger: Any, _name: str, event: Any) -> Any:
        seen.append(dict(event))
        raise structlog.DropEvent

    return keep


def _calls(seen: list[dict[str, Any]]) -> list[str]:
    return [e["model"] for e in seen if e["event"] == "modelbus.call"]


def test_a_client_built_before_the_app_configures_structlog_logs_later_calls(unconfigured, capsys):
    seen = unconfigured
    fake = FakeProvider()
    client = make_client(fake, {"modelbus": {"cache": "none"}})
    client.chat("before", model="m-before")
    structlog.configure(processors=[_keep(seen)])
    client.chat("after", model="m-after")
    assert _calls(seen) == ["m-after"]
    assert fake.calls == 2
    assert capsys.readouterr().out == ""


async def test_an_async_call_follows_the_configuration_too(unconfigured):
    seen = unconfigured
    client = make_client(FakeProvider(), {"modelbus": {"cache": "none"}})
    await client.achat("before", model="m-before")
    structlog.configure(processors=[_keep(seen)])
    await client.achat("after", model="m-after")
    assert _calls(seen) == ["m-after"]


def test_calls_stop_being_logged_once_structlog_is_unconfigured(unconfigured, capsys):
    seen = unconfigured
    structlog.configure(processors=[_keep(seen)])
    client = make_client(FakeProvider(), {"modelbus": {"cache": "none"}})
    client.chat("configured", model="m-1")
    structlog.reset_defaults()
    client.chat("unconfigured", model="m-2")
    later = make_client(FakeProvider(), {"modelbus": {"cache": "none"}})
    later.chat("built after", model="m-3")
    assert _calls(seen) == ["m-1"]
    # structlog's own default would print every event on stdout: nothing reached it
    out = capsys.readouterr()
    assert out.out == "" and "modelbus.call" not in out.err


def test_the_apps_level_decides_filtering_logger(unconfigured):
    seen = unconfigured
    client = make_client(FakeProvider(), {"modelbus": {"cache": "none"}})
    structlog.configure(
        processors=[_keep(seen)], wrapper_class=structlog.make_filtering_bound_logger(logging.INFO)
    )
    client.chat("shown", model="m-info")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    assert not _logging.calls_logged()  # the event is not even built
    client.chat("filtered", model="m-warning")
    assert _calls(seen) == ["m-info"]


def test_the_apps_level_decides_stdlib_logger(unconfigured):
    seen = unconfigured
    logger = logging.getLogger("modelbus")
    before = logger.level
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, _keep(seen)],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
    )
    client = make_client(FakeProvider(), {"modelbus": {"cache": "none"}})
    try:
        logger.setLevel(logging.INFO)
        client.chat("shown", model="m-info")
        logger.setLevel(logging.WARNING)  # the stdlib level, changed without structlog
        assert not _logging.calls_logged()
        client.chat("filtered", model="m-warning")
    finally:
        logger.setLevel(before)
    assert _calls(seen) == ["m-info"]


def test_modelbus_reapplies_its_configuration_after_reset_and_keeps_redacting(unconfigured, capsys):
    secret = Secret("planted-late-SECRET789")
    first = make_client(FakeProvider(), {"modelbus": {"log_level": "info", "cache": "none"}})
    first.chat("one", model="m-1")
    structlog.reset_defaults()
    # a new client whose config sets the level again configures again (redaction included)
    second = make_client(FakeProvider(), {"modelbus": {"log_level": "info", "cache": "none"}})
    second.chat("two", model="m-2")
    _logging.get_logger("modelbus").info(
        "probe", api_key="k", note=f"x {secret.get_secret_value()} y"
    )
    err = capsys.readouterr().err
    assert "model=m-1" in err and "model=m-2" in err
    assert "planted-late-SECRET789" not in err and _logging.MASK in err


def test_another_wrapper_class_leaves_the_decision_to_the_apps_processors(unconfigured):
    seen = unconfigured
    client = make_client(FakeProvider(), {"modelbus": {"cache": "none"}})
    structlog.configure(processors=[_keep(seen)], wrapper_class=structlog.BoundLogger)
    client.chat("shown", model="m-generic")
    assert _calls(seen) == ["m-generic"]


def test_the_public_api_view_of_structlogs_configuration_agrees(unconfigured):
    # used when structlog's configuration object is not where modelbus reads it
    view = _logging._PublicConfig(structlog)
    assert view.is_configured is False
    wrapper = structlog.make_filtering_bound_logger(logging.ERROR)
    structlog.configure(wrapper_class=wrapper)
    assert view.is_configured is True and view.default_wrapper_class is wrapper
    found = _logging._find_structlog_config()
    assert found.is_configured is True and found.default_wrapper_class is wrapper
