"""Plugin discovery through the ``modelbus`` entry-point group (issue 2).

Third-party plugins here are real distributions: ``modelbus-parrot`` pip-installed into a
virtualenv, and stand-in distributions (a dist-info folder on the path) for the ones that
go wrong. modelbus itself is never changed to know about them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import modelbus
from modelbus.errors import PluginError
from tests.core.plugin_kit import (
    BAD_COMMANDS,
    BROKEN_ON_IMPORT,
    CLASHING_COMMAND,
    HOOK_RAISES,
    MISSPELLED_HOOK,
    PARROT_CLONE,
    clean_environ,
    parrot_standin,
    run_cli,
    standin_dist,
)

PARROT_CONFIG = """
[modelbus]
provider = "parrot"

[providers.parrot]
prefix = "squawk: "
"""


def _by_name(rows: list[dict]) -> dict[str, dict]:
    return {r["name"]: r for r in rows}


def _dist(tmp_path: Path, name: str, dist: str, module: str, source: str) -> Path:
    return standin_dist(tmp_path / f"site-{name}", dist, "1.0", {name: module}, {module: source})


# --- the real thing: a pip-installed distribution -------------------------------------------


def test_venv_sees_the_checkout_of_modelbus(parrot_venv, tmp_path):
    out = run_cli(
        ["--version"], env=clean_environ(tmp_path), cwd=tmp_path, python=parrot_venv.python
    )
    assert out.returncode == 0, out.stderr
    import subprocess

    where = subprocess.run(
        [
            str(parrot_venv.python),
            "-c",
            "import modelbus, mb_parrot; print(modelbus.__file__); print(mb_parrot.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert Path(where[0]) == Path(modelbus.__file__)
    assert Path(where[1]).is_relative_to(parrot_venv.root)  # installed, not the source tree


def test_pip_installed_plugin_provides_the_provider_a_config_selects(parrot_venv, tmp_path):
    (tmp_path / "modelbus.toml").write_text(PARROT_CONFIG)
    env = clean_environ(tmp_path)
    out = run_cli(
        ["chat", "--json", "hello there"], env=env, cwd=tmp_path, python=parrot_venv.python
    )
    assert out.returncode == 0, out.stderr
    resp = json.loads(out.stdout)
    assert resp["content"] == "squawk: hello there"
    assert resp["provider"] == "parrot" and resp["model"] == "parrot-1"

    listed = run_cli(["plugins", "--json"], env=env, cwd=tmp_path, python=parrot_venv.python)
    assert listed.returncode == 0, listed.stderr
    parrot = _by_name(json.loads(listed.stdout))["parrot"]
    assert parrot["distribution"] == "modelbus-parrot"
    assert parrot["version"] == "0.3.1"
    assert parrot["error"] is None
    assert parrot["builtin"] is False
    assert parrot["registered"] == {
        "providers": ["parrot"],
        "caches": ["parrot-files"],
        "doctor_checks": ["parrot"],
    }
    assert set(parrot["hooks"]) == {
        "modelbus_register_providers",
        "modelbus_register_caches",
        "modelbus_register_doctor_checks",
        "modelbus_register_commands",
    }
    assert parrot["commands"] == ["parrot-say"]


def test_plugin_broken_on_import_is_reported_by_name_and_the_rest_works(parrot_venv, tmp_path):
    (tmp_path / "modelbus.toml").write_text(PARROT_CONFIG)
    broken = _dist(tmp_path, "broken", "modelbus-broken", "mb_broken", BROKEN_ON_IMPORT)
    env = clean_environ(tmp_path)
    listed = run_cli(
        ["plugins", "--json"], env=env, cwd=tmp_path, python=parrot_venv.python, path=[broken]
    )
    assert listed.returncode == 0, listed.stderr
    rows = _by_name(json.loads(listed.stdout))
    assert rows["broken"]["distribution"] == "modelbus-broken"
    assert rows["broken"]["error"] == (
        "RuntimeError: mb_broken cannot start: missing native library"
    )
    assert rows["broken"]["registered"] == {}
    assert rows["parrot"]["error"] is None
    # the failure is also logged (stderr, warning level), naming the plugin
    assert "plugin_load_failed" in listed.stderr and "broken" in listed.stderr

    chat = run_cli(
        ["chat", "--json", "still here"],
        env=env,
        cwd=tmp_path,
        python=parrot_venv.python,
        path=[broken],
    )
    assert chat.returncode == 0, chat.stderr
    assert json.loads(chat.stdout)["content"] == "squawk: still here"


def test_strict_plugins_lists_then_turns_a_load_failure_into_an_error(parrot_venv, tmp_path):
    broken = _dist(tmp_path, "broken", "modelbus-broken", "mb_broken", BROKEN_ON_IMPORT)
    env = clean_environ(tmp_path, MODELBUS_STRICT_PLUGINS="1", MODELBUS_PLUGINS="parrot,broken")
    out = run_cli(
        ["plugins", "--json"], env=env, cwd=tmp_path, python=parrot_venv.python, path=[broken]
    )
    assert out.returncode == 2
    # the listing is printed all the same: it is how the failing plugin is found
    rows = _by_name(json.loads(out.stdout))
    assert rows["broken"]["error"].startswith("RuntimeError: mb_broken cannot start")
    assert rows["parrot"]["error"] is None
    assert "plugin 'broken' (distribution 'modelbus-broken')" in out.stderr
    assert "Traceback" not in out.stderr

    table = run_cli(["plugins"], env=env, cwd=tmp_path, python=parrot_venv.python, path=[broken])
    assert table.returncode == 2
    assert "modelbus-broken" in table.stdout and "mb_broken cannot start" in table.stdout

    chat = run_cli(["chat", "hi"], env=env, cwd=tmp_path, python=parrot_venv.python, path=[broken])
    assert chat.returncode == 2 and chat.stdout == ""
    assert "plugin 'broken' (distribution 'modelbus-broken')" in chat.stderr


# --- in this process, with stand-in distributions --------------------------------------------


def test_standin_plugin_loads_with_its_distribution(parrot_on_path):
    loaded = modelbus.load_plugins(allow=["parrot"])
    info = {p.name: p for p in loaded.plugins}["parrot"]
    assert (info.distribution, info.version, info.error) == ("modelbus-parrot", "0.3.1", None)
    assert ("providers", "parrot") in loaded.registry
    assert loaded.registry.get("providers", "parrot").origin == "modelbus-parrot"


def test_strict_in_process_raises_plugin_error_naming_the_plugin(
    parrot_on_path, tmp_path, monkeypatch
):
    monkeypatch.syspath_prepend(
        str(_dist(tmp_path, "broken", "modelbus-broken", "mb_broken", BROKEN_ON_IMPORT))
    )
    monkeypatch.setenv("MODELBUS_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as e:
        modelbus.load_plugins(allow=["parrot", "broken"])
    assert e.value.plugin == "broken"
    assert "modelbus-broken" in str(e.value)


def test_hook_that_raises_is_reported_with_its_hook(parrot_on_path, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(
        str(_dist(tmp_path, "hookfail", "modelbus-hookfail", "mb_hookfail", HOOK_RAISES))
    )
    loaded = modelbus.load_plugins(allow=["parrot", "hookfail"])
    info = {p.name: p for p in loaded.plugins}
    assert info["hookfail"].error == (
        "modelbus_register_providers: ValueError: cannot read my data file"
    )
    assert info["parrot"].error is None
    assert ("providers", "parrot") in loaded.registry


def test_allow_and_block_lists_in_config(parrot_on_path, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(
        str(_dist(tmp_path, "broken", "modelbus-broken", "mb_broken", BROKEN_ON_IMPORT))
    )
    allow_only = modelbus.Client(
        {"modelbus": {"provider": "parrot", "plugins": {"allow": ["parrot"]}}}
    )
    names = {p.name for p in allow_only.plugins.plugins if not p.builtin}
    assert names == {"parrot"}

    # block by entry-point name or by distribution name
    for blocked in ("broken", "modelbus-broken"):
        c = modelbus.Client({"modelbus": {"provider": "parrot", "plugins": {"block": [blocked]}}})
        assert "broken" not in {p.name for p in c.plugins.plugins}
        assert "parrot" in {p.name for p in c.plugins.plugins}


def test_allow_and_block_lists_in_env(parrot_on_path, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(
        str(_dist(tmp_path, "broken", "modelbus-broken", "mb_broken", BROKEN_ON_IMPORT))
    )
    monkeypatch.setenv("MODELBUS_PLUGINS", "broken")  # replaces the config's allow list
    loaded = modelbus.load_plugins(allow=["parrot"])
    assert {p.name for p in loaded.plugins if not p.builtin} == {"broken"}

    monkeypatch.delenv("MODELBUS_PLUGINS")
    monkeypatch.setenv("MODELBUS_DISABLE_PLUGINS", "modelbus-parrot")  # adds to block
    loaded = modelbus.load_plugins(allow=["parrot", "broken"], block=["broken"])
    assert {p.name for p in loaded.plugins if not p.builtin} == set()


def test_builtins_are_blocked_by_their_plugin_name_only(parrot_on_path, monkeypatch):
    # ``allow`` and the distribution name "modelbus" never drop the built-ins...
    monkeypatch.setenv("MODELBUS_DISABLE_PLUGINS", "modelbus,modelbus.builtins.retry")
    loaded = modelbus.load_plugins(allow=[], block=["modelbus.builtins.tokens"])
    builtins = {p.name for p in loaded.plugins if p.builtin}
    assert builtins == {
        "modelbus.builtins.budget",
        "modelbus.builtins.caches",
        "modelbus.builtins.calllog",
        "modelbus.builtins.pool_state",
        "modelbus.builtins.ratelimit",
    }
    assert ("caches", "memory") in loaded.registry
    assert ("rate_limiters", "local") in loaded.registry
    # ...the plugin names ``modelbus plugins`` lists do (config list or env)
    assert ("retry_policies", "exponential") not in loaded.registry
    assert ("token_counters", "tiktoken") not in loaded.registry
    assert not any(not p.builtin for p in loaded.plugins)


def test_misspelled_hookimpl_is_the_plugins_error_naming_the_hook(
    parrot_on_path, tmp_path, monkeypatch
):
    monkeypatch.syspath_prepend(
        str(_dist(tmp_path, "typo", "modelbus-typo", "mb_typo", MISSPELLED_HOOK))
    )
    loaded = modelbus.load_plugins(allow=["parrot", "typo"])
    info = {p.name: p for p in loaded.plugins}
    assert info["typo"].error.startswith(
        "unknown hook 'modelbus_register_provider' (did you mean 'modelbus_register_providers'?)"
    )
    known = info["typo"].error.split("known hooks: ", 1)[1].split(", ")
    assert "modelbus_register_caches" in known and known == sorted(known)
    assert info["parrot"].error is None and ("providers", "parrot") in loaded.registry

    monkeypatch.setenv("MODELBUS_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as e:
        modelbus.load_plugins(allow=["parrot", "typo"])
    assert "plugin 'typo' (distribution 'modelbus-typo')" in str(e.value)
    assert "'modelbus_register_provider'" in str(e.value)
    assert e.value.plugin == "typo"


def test_name_registered_twice_is_every_claimants_error_and_neither_is_used(
    parrot_on_path, tmp_path, monkeypatch
):
    monkeypatch.syspath_prepend(
        str(
            _dist(
                tmp_path, "parrot-clone", "modelbus-parrot-clone", "mb_parrot_clone", PARROT_CLONE
            )
        )
    )
    loaded = modelbus.load_plugins(allow=["parrot", "parrot-clone"])
    # Both carry the error, naming both: which one loaded first does not matter.
    errors = {p.name: p.error for p in loaded.plugins if p.name in ("parrot", "parrot-clone")}
    assert errors["parrot"] == errors["parrot-clone"]
    assert errors["parrot"].startswith(
        "modelbus_register_providers: providers name 'parrot' is registered twice: "
    )
    assert "'modelbus-parrot'" in errors["parrot"]
    assert "'modelbus-parrot-clone'" in errors["parrot"]
    assert "MODELBUS_DISABLE_PLUGINS=" in errors["parrot"]
    info = {p.name: p for p in loaded.plugins}
    assert "providers" not in info["parrot"].registered  # not listed as the parrot's
    assert info["parrot"].registered["caches"] == ["parrot-files"]  # the rest is
    # Neither is used silently: selecting the name is the error.
    client = modelbus.Client(
        {"modelbus": {"provider": "parrot", "plugins": {"allow": ["parrot", "parrot-clone"]}}}
    )
    with pytest.raises(PluginError, match="registered twice") as e:
        client.chat("hi")
    assert "'modelbus-parrot'" in str(e.value) and "'modelbus-parrot-clone'" in str(e.value)
    # Blocking either side resolves it.
    for blocked, kept in (("parrot-clone", "modelbus-parrot"), ("parrot", "modelbus-parrot-clone")):
        only = modelbus.load_plugins(allow=["parrot", "parrot-clone"], block=[blocked])
        assert only.registry.get("providers", "parrot").origin == kept
        assert all(p.error is None for p in only.plugins)

    monkeypatch.setenv("MODELBUS_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="registered twice"):
        modelbus.load_plugins(allow=["parrot", "parrot-clone"])


def test_one_plugin_name_from_two_distributions_loads_neither(
    parrot_on_path, tmp_path, monkeypatch
):
    other = standin_dist(
        tmp_path / "site-other",
        "modelbus-other-parrot",
        "2.0",
        {"parrot": "mb_parrot_clone"},
        {"mb_parrot_clone": PARROT_CLONE},
    )
    monkeypatch.syspath_prepend(str(other))
    loaded = modelbus.load_plugins(allow=["parrot"])
    rows = [p for p in loaded.plugins if p.name == "parrot"]
    assert {p.distribution for p in rows} == {"modelbus-parrot", "modelbus-other-parrot"}
    for p in rows:
        assert "'modelbus-parrot'" in p.error and "'modelbus-other-parrot'" in p.error
    assert ("providers", "parrot") not in loaded.registry  # neither shadows the other
    assert ("caches", "memory") in loaded.registry
    # blocking one of the two distributions resolves it
    loaded = modelbus.load_plugins(allow=["parrot"], block=["modelbus-other-parrot"])
    assert {p.name: p.distribution for p in loaded.plugins}["parrot"] == "modelbus-parrot"
    assert ("providers", "parrot") in loaded.registry

    monkeypatch.setenv("MODELBUS_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="declared by 2 distributions"):
        modelbus.load_plugins(allow=["parrot"])


def test_same_distribution_twice_on_the_path_loads_once(parrot_on_path, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(parrot_standin(tmp_path / "site-parrot-again")))
    loaded = modelbus.load_plugins(allow=["parrot"])
    assert [p.name for p in loaded.plugins].count("parrot") == 1
    assert {p.name: p for p in loaded.plugins}["parrot"].error is None


def test_plugins_are_loaded_once_per_process_until_reset(parrot_on_path):
    first = modelbus.load_plugins(allow=["parrot"])
    assert modelbus.load_plugins(allow=["parrot"]) is first
    modelbus.reset_plugins()
    assert modelbus.load_plugins(allow=["parrot"]) is not first


# --- plugin commands --------------------------------------------------------------------------


def test_plugin_command_runs_and_a_failing_commands_hook_is_reported(parrot_venv, tmp_path):
    bad = _dist(tmp_path, "badcmd", "modelbus-badcmd", "mb_badcmd", BAD_COMMANDS)
    env = clean_environ(tmp_path)
    out = run_cli(
        ["parrot-say", "pretty", "bird"],
        env=env,
        cwd=tmp_path,
        python=parrot_venv.python,
        path=[bad],
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "squawk: pretty bird\n"
    assert (
        "plugin 'badcmd' could not add commands: modelbus_register_commands: "
        "RuntimeError: commands exploded"
    ) in out.stderr

    listed = run_cli(
        ["plugins", "--json"], env=env, cwd=tmp_path, python=parrot_venv.python, path=[bad]
    )
    rows = _by_name(json.loads(listed.stdout))
    assert "commands exploded" in rows["badcmd"]["error"]
    assert rows["badcmd"]["registered"] == {"providers": ["still-works"]}
    assert rows["parrot"]["commands"] == ["parrot-say"]

    strict = run_cli(
        ["parrot-say", "x"],
        env={**env, "MODELBUS_STRICT_PLUGINS": "1"},
        cwd=tmp_path,
        python=parrot_venv.python,
        path=[bad],
    )
    assert strict.returncode == 2
    assert "plugin 'badcmd' (distribution 'modelbus-badcmd')" in strict.stderr


def test_plugin_cannot_replace_a_builtin_command(parrot_on_path, tmp_path):
    clash = _dist(tmp_path, "clash", "modelbus-clash", "mb_clash", CLASHING_COMMAND)
    env = clean_environ(tmp_path, MODELBUS_PLUGINS="parrot,clash")
    listed = run_cli(["plugins", "--json"], env=env, cwd=tmp_path, path=[parrot_on_path, clash])
    rows = _by_name(json.loads(listed.stdout))
    assert rows["clash"]["error"].startswith(
        "command 'chat' is a built-in command of modelbus, so 'modelbus-clash''s is not used"
    )
    assert rows["clash"]["commands"] == []
    helped = run_cli(["chat", "--help"], env=env, cwd=tmp_path, path=[parrot_on_path, clash])
    assert "Send PROMPT" in helped.stdout  # still the built-in
