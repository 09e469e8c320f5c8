"""Issue 14, item 4: every plugin failure stays that plugin's.

Each probe is a third-party plugin gone wrong in one way, installed as a stand-in
distribution (found through its ``modelbus`` entry point only): a misspelled hook name, a
hook that raises, built-in names taken (``memory``, ``exponential``), one provider and
one command claimed by two plugins, factories that raise. With it installed, an app that
does not use it keeps working (``Client()``, ``make_client`` chat and token counts, the
CLI's ``chat`` and ``models``) and ``modelbus plugins --json`` lists the plugin with its
error (printed in strict mode too, which then exits 2).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import structlog
from structlog import testing as structlog_testing

import modelbus
from modelbus._plugins.loading import load_plugins
from modelbus.builtins.caches import MemoryCache
from modelbus.builtins.retry import ExponentialBackoff
from modelbus.cli._group import plugin_commands
from modelbus.errors import PluginError
from modelbus.testing import FakeProvider, make_client
from tests.core.plugin_kit import (
    BUILTIN_SQUATTER,
    FACTORIES_RAISE,
    HOOK_RAISES,
    MISSPELLED_HOOK,
    TWIN,
    clean_environ,
    parrot_standin,
    run_cli,
    standin_dist,
)

PARROT_CONFIG = '[modelbus]\nprovider = "parrot"\n\n[providers.parrot]\nprefix = "squawk: "\n'

# probe → ((entry-point name, distribution, module, source), ...) and, per plugin, the
# start of its listed error (a plugin may have several errors, joined by "; ").
PROBES: dict[str, tuple[tuple[tuple[str, str, str, str], ...], dict[str, str]]] = {
    "misspelled-hook": (
        (("typo", "modelbus-typo", "mb_typo", MISSPELLED_HOOK),),
        {"typo": "unknown hook 'modelbus_register_provider' (did you mean "},
    ),
    "hook-raises": (
        (("hookfail", "modelbus-hookfail", "mb_hookfail", HOOK_RAISES),),
        {"hookfail": "modelbus_register_providers: ValueError: cannot read my data file"},
    ),
    "builtin-names": (
        (("squatter", "modelbus-squatter", "mb_squatter", BUILTIN_SQUATTER),),
        {
            "squatter": "modelbus_register_caches: caches name 'memory' is a built-in of "
            "modelbus (plugin 'modelbus.builtins.caches'), so 'modelbus-squatter''s is not used"
        },
    ),
    "plugin-clash": (
        (
            ("twin-a", "modelbus-twin-a", "mb_twin_a", TWIN.replace("{who}", "a")),
            ("twin-b", "modelbus-twin-b", "mb_twin_b", TWIN.replace("{who}", "b")),
        ),
        {
            "twin-a": "modelbus_register_providers: providers name 'twin' is registered twice",
            "twin-b": "modelbus_register_providers: providers name 'twin' is registered twice",
        },
    ),
    "factories-raise": (
        (("boom", "modelbus-boom", "mb_boom", FACTORIES_RAISE),),
        {
            "boom": "token_counters 'boom-counter' from 'modelbus-boom' failed to start: "
            "RuntimeError: no licence file"
        },
    ),
}


@contextmanager
def capture_logs() -> Iterator[list[dict[str, Any]]]:
    """structlog's capture_logs, leaving structlog unconfigured after (its own exit
    leaves ``is_configured()`` true)."""
    with structlog_testing.capture_logs() as logs:
        yield logs
    structlog.reset_defaults()


def _install(tmp_path: Path, probe: str) -> list[Path]:
    """The probe's plugins as stand-in distributions; returns the folders to put on the path."""
    return [
        standin_dist(tmp_path / f"site-{name}", dist, "1.0", {name: module}, {module: source})
        for name, dist, module, source in PROBES[probe][0]
    ]


@attrs.frozen
class Invoice:
    number: str


@pytest.mark.parametrize("probe", PROBES)
def test_probe_leaves_an_unrelated_app_working_in_process(
    probe, fresh_plugins, tmp_path, monkeypatch
):
    for root in _install(tmp_path, probe):
        monkeypatch.syspath_prepend(str(root))
    infos = {p.name: p for p in load_plugins().plugins}
    for name, error in PROBES[probe][1].items():
        if probe != "factories-raise":  # factories fail when started, not when loaded
            assert infos[name].error.startswith(error), infos[name].error

    # the default config: built-in cache and retry policy, whatever a plugin registered
    plain = modelbus.Client()
    assert type(plain.cache) is MemoryCache
    assert type(plain.retry_policy) is ExponentialBackoff

    fake = FakeProvider()
    with make_client(fake) as client:
        assert client.chat("hi").content == "echo: hi"
        # starts every token counter (a plugin's that raises is left out)
        assert client.count_tokens("hello there", model="gpt-4o-mini") > 0
        # starts every response-format handler (likewise)
        fake.enqueue_text('{"number": "A-1"}')
        assert client.chat("x", response_format=Invoice).parsed == Invoice("A-1")
    assert fake.calls == 2


@pytest.mark.parametrize("probe", PROBES)
def test_probe_leaves_the_cli_working_and_is_listed_with_its_error(probe, tmp_path):
    (tmp_path / "modelbus.toml").write_text(PARROT_CONFIG)
    path = [parrot_standin(tmp_path / "site-parrot"), *_install(tmp_path, probe)]
    env = clean_environ(tmp_path)

    chat = run_cli(["chat", "--json", "still here"], env=env, cwd=tmp_path, path=path)
    assert chat.returncode == 0, chat.stderr
    assert json.loads(chat.stdout)["content"] == "squawk: still here"

    models = run_cli(["models", "--json"], env=env, cwd=tmp_path, path=path)
    assert models.returncode == 0, models.stderr
    listed_models = {m["model"] for m in json.loads(models.stdout)}
    assert "gpt-4o-mini" in listed_models
    assert "twin-model" not in listed_models  # claimed by two plugins: neither's entry

    for strict, status in (("", 0), ("1", 2)):
        listed = run_cli(
            ["plugins", "--json"],
            env={**env, "MODELBUS_STRICT_PLUGINS": strict},
            cwd=tmp_path,
            path=path,
        )
        assert listed.returncode == status, listed.stderr
        rows = {r["name"]: r for r in json.loads(listed.stdout)}  # always the listing
        for name, error in PROBES[probe][1].items():
            assert rows[name]["error"].startswith(error), rows[name]["error"]
        assert rows["parrot"]["error"] is None
        assert all(r["error"] is None for r in rows.values() if r["builtin"])
        if strict:
            assert "MODELBUS_STRICT_PLUGINS" in listed.stderr
            assert "Traceback" not in listed.stderr


def test_strict_mode_refuses_a_client_naming_the_plugin(fresh_plugins, tmp_path, monkeypatch):
    for root in _install(tmp_path, "misspelled-hook"):
        monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("MODELBUS_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as e:
        modelbus.Client()
    assert e.value.plugin == "typo"
    assert "(distribution 'modelbus-typo'): unknown hook 'modelbus_register_provider'" in str(
        e.value
    )


# --- built-in names: the built-in stays, and block works for either side --------------------


def test_a_builtin_name_stays_the_builtins_and_either_side_can_be_blocked(
    fresh_plugins, tmp_path, monkeypatch
):
    for root in _install(tmp_path, "builtin-names"):
        monkeypatch.syspath_prepend(str(root))
    squatter = {p.name: p for p in load_plugins().plugins}["squatter"]
    assert squatter.registered == {}
    # both names are reported, each with the way out on either side
    assert "caches name 'memory'" in squatter.error
    assert "retry_policies name 'exponential'" in squatter.error
    assert 'block = ["modelbus.builtins.caches"]' in squatter.error
    assert 'block = ["squatter"]' in squatter.error

    # blocking the plugin: the built-in, and no error
    quiet = modelbus.Client({"modelbus": {"plugins": {"block": ["squatter"]}}})
    assert type(quiet.cache) is MemoryCache
    assert all(p.error is None for p in quiet.plugins.plugins)

    # blocking the built-in (config): the plugin's takes the name
    theirs = modelbus.Client({"modelbus": {"plugins": {"block": ["modelbus.builtins.caches"]}}})
    assert type(theirs.cache).__name__ == "SquatterCache"
    assert type(theirs.retry_policy) is ExponentialBackoff  # only the blocked one changed
    by_name = {p.name: p for p in theirs.plugins.plugins}
    assert "modelbus.builtins.caches" not in by_name
    assert by_name["squatter"].registered == {"caches": ["memory"]}
    assert "caches name" not in by_name["squatter"].error  # the retry clash remains

    # ... or the env equivalent
    monkeypatch.setenv("MODELBUS_DISABLE_PLUGINS", "modelbus.builtins.retry")
    env_blocked = modelbus.Client()
    assert type(env_blocked.retry_policy).__name__ == "SquatterRetry"
    assert type(env_blocked.cache) is MemoryCache


def test_blocking_the_builtin_through_the_cli(tmp_path):
    (tmp_path / "modelbus.toml").write_text(
        PARROT_CONFIG.replace(
            'provider = "parrot"',
            'provider = "parrot"\nplugins = { block = ["modelbus.builtins.caches"] }',
        )
    )
    path = [parrot_standin(tmp_path / "site-parrot"), *_install(tmp_path, "builtin-names")]
    listed = run_cli(["plugins", "--json"], env=clean_environ(tmp_path), cwd=tmp_path, path=path)
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert "modelbus.builtins.caches" not in rows
    assert rows["squatter"]["registered"] == {"caches": ["memory"]}
    chat = run_cli(["chat", "--json", "hi"], env=clean_environ(tmp_path), cwd=tmp_path, path=path)
    assert json.loads(chat.stdout)["content"] == "squawk: hi"


# --- one clash rule for registrations and commands ----------------------------------------


@pytest.mark.parametrize("first", ["twin-a", "twin-b"])
def test_a_name_two_plugins_claim_is_neither_whatever_the_load_order(
    first, fresh_plugins, tmp_path, monkeypatch
):
    roots = {p.name.removeprefix("site-"): p for p in _install(tmp_path, "plugin-clash")}
    # syspath_prepend puts the last one first: discovery order follows sys.path
    for name in sorted(roots, key=lambda n: n == first):
        monkeypatch.syspath_prepend(str(roots[name]))
    loaded = load_plugins()
    assert next(p.name for p in loaded.plugins if p.name.startswith("twin")) == first

    with pytest.raises(PluginError, match="providers name 'twin' is registered twice") as e:
        loaded.registry.get("providers", "twin")
    assert "'modelbus-twin-a'" in str(e.value) and "'modelbus-twin-b'" in str(e.value)
    # the kinds used all at once follow the rule too: neither catalog entry is used
    assert "twin-model" not in {r.name for r in loaded.registry.of_kind("catalog")}
    assert "catalog" not in {p.name: p for p in loaded.plugins}["twin-a"].registered
    cmds = plugin_commands(loaded, strict=False)
    assert "twin-say" not in cmds.commands
    assert "'modelbus-twin-a'" in str(cmds.contested["twin-say"])
    for name in ("twin-a", "twin-b"):
        assert "command 'twin-say' is registered twice" in cmds.errors[name]
        assert "providers name 'twin' is registered twice" in (
            {p.name: p for p in loaded.plugins}[name].error
        )


def test_running_a_command_two_plugins_add_is_the_error_naming_both(tmp_path):
    path = _install(tmp_path, "plugin-clash")
    env = clean_environ(tmp_path)
    out = run_cli(["twin-say"], env=env, cwd=tmp_path, path=path)
    assert out.returncode == 2 and out.stdout == ""
    assert "command 'twin-say' is registered twice" in out.stderr
    assert "'modelbus-twin-a'" in out.stderr and "'modelbus-twin-b'" in out.stderr
    # blocking one side resolves it
    out = run_cli(
        ["twin-say"], env={**env, "MODELBUS_DISABLE_PLUGINS": "twin-a"}, cwd=tmp_path, path=path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "b\n"


# --- factories that raise -----------------------------------------------------------------


def test_a_factory_that_raises_fails_only_the_app_that_uses_it(
    fresh_plugins, tmp_path, monkeypatch
):
    for root in _install(tmp_path, "factories-raise"):
        monkeypatch.syspath_prepend(str(root))
    with capture_logs() as logs:
        counted = make_client(FakeProvider()).count_tokens("hi", model="gpt-4o-mini")
    assert counted > 0
    (failed,) = [e for e in logs if e["event"] == "plugin_factory_failed"]
    assert failed["log_level"] == "warning"
    assert (failed["plugin"], failed["kind"], failed["name"]) == (
        "boom",
        "token_counters",
        "boom-counter",
    )
    assert "RuntimeError: no licence file" in failed["error"]

    client = modelbus.Client({"modelbus": {"provider": "boom"}})
    with pytest.raises(PluginError, match="providers 'boom' from 'modelbus-boom' failed to start"):
        client.chat("hi")
    named = modelbus.Client({"modelbus": {"token_counter": "boom-counter"}})
    with pytest.raises(PluginError, match="token_counters 'boom-counter' from 'modelbus-boom'"):
        named.count_tokens("hi", model="gpt-4o-mini")


# --- a plugin that calls sys.exit() (or raises another BaseException) ----------------------

EXITS_ON_IMPORT = """
import sys
sys.exit("mb_quitter needs Python 4")
"""
EXITS_IN_HOOKS = """
import sys
import modelbus

@modelbus.hookimpl
def modelbus_register_providers(register):
    register("half-quit", object)
    sys.exit(3)

@modelbus.hookimpl
def modelbus_register_caches(register):
    raise GeneratorExit("not an Exception")

@modelbus.hookimpl
def modelbus_register_commands(cli):
    sys.exit(4)
"""
EXITS_IN_FACTORY = """
import sys
import modelbus

def quit_(*_):
    sys.exit("no licence")

@modelbus.hookimpl
def modelbus_register_providers(register):
    register("quit-provider", quit_)
"""


def test_a_plugin_calling_sys_exit_is_its_own_error(fresh_plugins, tmp_path, monkeypatch):
    """SystemExit and GeneratorExit are not Exceptions: a plugin raising one at import, in
    a hook or in a factory is listed with its error; it ends nothing else."""
    for name, source in (
        ("quitter", EXITS_ON_IMPORT),
        ("hookquit", EXITS_IN_HOOKS),
        ("factoryquit", EXITS_IN_FACTORY),
    ):
        root = standin_dist(
            tmp_path / f"site-{name}",
            f"modelbus-{name}",
            "1.0",
            {name: f"mb_{name}"},
            {f"mb_{name}": source},
        )
        monkeypatch.syspath_prepend(str(root))
    loaded = load_plugins()
    infos = {p.name: p for p in loaded.plugins}
    assert infos["quitter"].error == "SystemExit: mb_quitter needs Python 4"
    assert "modelbus_register_providers: SystemExit: 3" in infos["hookquit"].error
    assert "modelbus_register_caches: GeneratorExit: not an Exception" in infos["hookquit"].error
    commands = plugin_commands(loaded, strict=False)
    assert commands.errors["hookquit"] == "modelbus_register_commands: SystemExit: 4"

    with make_client(FakeProvider()) as client:
        assert client.chat("hi").content == "echo: hi"
    client = modelbus.Client({"modelbus": {"provider": "quit-provider"}})
    with pytest.raises(PluginError, match="failed to start: SystemExit: no licence"):
        client.chat("hi")


BAD_CATALOG = """
import modelbus

@modelbus.hookimpl
def modelbus_register_catalog(register):
    register("bad-window", {"provider": "x", "context_window": "big"})
    register("not-a-table", "gpt-4o-mini")
    register("good-model", {"provider": "x", "context_window": 1000})
"""


def test_a_bad_catalog_entry_is_its_plugins_error(fresh_plugins, tmp_path, monkeypatch):
    """A catalog entry a plugin registers with a wrong field is left out and listed as
    that plugin's error; the catalog every client loads (and the config file) is not
    blamed for it. The plugin's good entries stay."""
    root = standin_dist(
        tmp_path / "site-badcat",
        "modelbus-badcat",
        "1.0",
        {"badcat": "mb_badcat"},
        {"mb_badcat": BAD_CATALOG},
    )
    monkeypatch.syspath_prepend(str(root))
    info = {p.name: p for p in load_plugins().plugins}["badcat"]
    assert "catalog entry 'bad-window': context_window must be a positive integer" in info.error
    assert "catalog entry 'not-a-table' must be a table of fields, got str" in info.error
    assert info.registered == {"catalog": ["good-model"]}

    with make_client(FakeProvider()) as client:
        assert client.chat("hi").content == "echo: hi"
        assert "good-model" in client.catalog
        assert "bad-window" not in client.catalog


ODD_NAMES = """
import modelbus

@modelbus.hookimpl
def modelbus_register_providers(register):
    register("", lambda: None)
    register("team/gpt", lambda: None)
    register("pool:x", lambda: None)
    register("two words", lambda: None)
    register("fine-name", lambda: None)
"""


def test_names_nothing_could_reach_are_the_plugins_error(fresh_plugins, tmp_path, monkeypatch):
    """A provider named "" or "team/gpt" was accepted, though no config, -m or
    provider/model could ever reach it; each is now listed as the plugin's error, its
    reachable names kept, and every other app unaffected."""
    root = standin_dist(
        tmp_path / "site-odd",
        "modelbus-odd",
        "1.0",
        {"odd": "mb_odd"},
        {"mb_odd": ODD_NAMES},
    )
    monkeypatch.syspath_prepend(str(root))
    info = {p.name: p for p in load_plugins().plugins}["odd"]
    assert "providers name '': a name is non-empty text" in info.error
    assert "providers name 'team/gpt': a provider's name has no '/' or ':'" in info.error
    assert "providers name 'pool:x'" in info.error
    assert "providers name 'two words': a name has no spaces" in info.error
    assert info.registered == {"providers": ["fine-name"]}
    with make_client(FakeProvider()) as client:
        assert client.chat("hi").content == "echo: hi"
