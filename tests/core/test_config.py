"""``modelbus.toml``: errors that name the key, the file and the accepted keys; secrets;
env overrides; where the file is found; ``modelbus config check|show`` (issue 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import modelbus
from modelbus._config.config import Config, find_config
from modelbus.errors import ConfigError, PluginError
from tests.core.plugin_kit import (
    clean_environ,
    run_cli,
)

PARROT = '[modelbus]\nprovider = "parrot"\nplugins = { allow = ["parrot"] }\n'


def _write(tmp_path: Path, text: str, name: str = "modelbus.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- errors that say where -------------------------------------------------------------------


def test_misspelled_key_names_dotted_key_file_and_accepted_keys(parrot_on_path, tmp_path):
    path = _write(tmp_path, PARROT + "[retry_policies.exponential]\nmax_atempts = 5\n")
    with pytest.raises(ConfigError) as e:
        modelbus.Client(str(path))
    err = e.value
    assert err.key == "retry_policies.exponential.max_atempts"
    assert err.source == str(path)
    assert "max_attempts" in err.accepted and "initial_delay_s" in err.accepted
    msg = str(err)
    assert "retry_policies.exponential.max_atempts" in msg and str(path) in msg
    assert "accepted keys: " in msg and "max_attempts" in msg


def test_misspelled_core_key(parrot_on_path, tmp_path):
    path = _write(tmp_path, '[modelbus]\nprovder = "parrot"\n')
    with pytest.raises(ConfigError) as e:
        Config.load(path)
    assert e.value.key == "modelbus.provder"
    assert "provider" in e.value.accepted


@pytest.mark.parametrize(
    ("toml", "key", "expected"),
    [
        (
            '[retry_policies.exponential]\nmax_attempts = "5"\n',
            "retry_policies.exponential.max_attempts",
            "expected int",
        ),
        (
            "[retry_policies.exponential]\nmax_attempts = true\n",
            "retry_policies.exponential.max_attempts",
            "expected int",
        ),
        ('[modelbus]\ncache_ttl_s = "soon"\n', "modelbus.cache_ttl_s", "expected float | None"),
        ("[providers.parrot]\nprefix = 3\n", "providers.parrot.prefix", "expected str"),
        ('[modelbus.plugins]\nblock = "broken"\n', "modelbus.plugins.block", "expected list"),
    ],
)
def test_type_errors_name_the_expected_type(parrot_on_path, tmp_path, toml, key, expected):
    path = _write(
        tmp_path,
        '[modelbus.plugins]\nallow = ["parrot"]\n' if "modelbus.plugins" not in toml else "",
    )
    path.write_text(path.read_text() + toml)
    with pytest.raises(ConfigError) as e:
        modelbus.Client(str(path), provider="parrot")
    assert e.value.key == key
    assert expected in str(e.value)
    assert str(path) in str(e.value)


def test_an_unknown_client_override_names_the_accepted_keys():
    with pytest.raises(ConfigError) as e:
        modelbus.Client({}, provder="parrot")
    assert "unknown client override" in str(e.value) and "provder" in str(e.value)
    assert e.value.source == "Client(...)"
    assert "provider" in e.value.accepted and "cache" in e.value.accepted


def test_a_client_takes_its_config_as_a_config_a_dict_or_a_path(tmp_path):
    path = _write(tmp_path, '[modelbus]\ncache = "none"\n')
    loaded = Config.load(path)
    assert Config.coerce(loaded, {}) is loaded
    assert Config.coerce(str(path), {}).source == str(path)
    assert Config.coerce({"modelbus": {"cache": "none"}}, {}).modelbus.cache == "none"
    overridden = Config.coerce(path, {"cache": "memory"})
    assert (overridden.modelbus.cache, overridden.source) == ("memory", str(path))


def test_unknown_section(tmp_path):
    path = _write(tmp_path, '[provider.openai]\napi_key = "x"\n')
    with pytest.raises(ConfigError) as e:
        Config.load(path)
    assert "unknown section 'provider'" in str(e.value)
    assert "providers" in e.value.accepted


def test_unknown_provider_section_names_the_installed_ones(parrot_on_path, tmp_path):
    path = _write(tmp_path, PARROT + '[providers.parot]\nprefix = "x"\n')
    with pytest.raises(ConfigError) as e:
        modelbus.Client(str(path))
    assert e.value.key == "providers.parot"
    assert "no providers plugin named 'parot' is installed" in str(e.value)
    assert e.value.accepted == ("parrot",)


def test_unknown_default_provider_names_the_installed_ones(parrot_on_path, tmp_path):
    path = _write(tmp_path, '[modelbus]\nprovider = "parot"\nplugins = { allow = ["parrot"] }\n')
    client = modelbus.Client(str(path))
    with pytest.raises(
        PluginError,
        match=r"no provider named 'parot' is installed; "
        r"installed: parrot",
    ):
        client.chat("hi")
    out = run_cli(
        ["config", "check", str(path)],
        env=clean_environ(tmp_path),
        cwd=tmp_path,
        path=[parrot_on_path],
    )
    assert out.returncode == 2
    assert "key: modelbus.provider" in out.stderr and "accepted keys: parrot" in out.stderr


def test_invalid_toml_names_the_file(tmp_path):
    path = _write(tmp_path, "[modelbus\nprovider = 1\n")
    with pytest.raises(ConfigError, match="invalid TOML") as e:
        Config.load(path)
    assert e.value.source == str(path)


# --- secrets ---------------------------------------------------------------------------------


def test_secret_from_env_and_from_file(parrot_on_path, tmp_path, monkeypatch):
    monkeypatch.setenv("PARROT_KEY", "from-the-env-123")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "parrot.txt").write_text("from-the-file-456\n")
    env_cfg = Config.load(
        _write(tmp_path, '[providers.parrot]\napi_key = { env = "PARROT_KEY" }\n', "env.toml")
    )
    file_cfg = Config.load(
        _write(
            tmp_path, '[providers.parrot]\napi_key = { file = "keys/parrot.txt" }\n', "file.toml"
        )
    )
    registry = modelbus.load_plugins(allow=["parrot"]).registry
    settings_cls = registry.get("providers", "parrot").settings
    from_env = env_cfg.section("providers", "parrot", settings_cls).api_key
    from_file = file_cfg.section("providers", "parrot", settings_cls).api_key
    assert from_env.get_secret_value() == "from-the-env-123"
    assert from_env.source == "env:PARROT_KEY"
    # relative to the config file, stripped
    assert from_file.get_secret_value() == "from-the-file-456"
    assert from_file.source == f"file:{tmp_path / 'keys' / 'parrot.txt'}"
    assert "from-the" not in repr(from_env) + str(from_file)


def test_secret_errors_name_the_variable_or_file(parrot_on_path, tmp_path):
    path = _write(tmp_path, PARROT + '[providers.parrot]\napi_key = { env = "NO_SUCH_VAR_X" }\n')
    with pytest.raises(ConfigError) as e:
        modelbus.Client(str(path))
    assert e.value.key == "providers.parrot.api_key"
    assert "'NO_SUCH_VAR_X' is not set" in str(e.value)

    path.write_text(PARROT + '[providers.parrot]\napi_key = { file = "missing.txt" }\n')
    with pytest.raises(ConfigError, match="cannot read secret file") as e:
        modelbus.Client(str(path))
    assert str(tmp_path / "missing.txt") in str(e.value)

    path.write_text(PARROT + '[providers.parrot]\napi_key = { vault = "x" }\n')
    with pytest.raises(ConfigError, match=r'\{ env = "NAME" \}'):
        modelbus.Client(str(path))


# --- env overrides and search order ----------------------------------------------------------


def test_env_overrides_provider_model_and_cache(tmp_path, monkeypatch, fresh_plugins):
    path = _write(tmp_path, '[modelbus]\nprovider = "a"\nmodel = "m1"\ncache = "memory"\n')
    assert Config.load(path).modelbus.provider == "a"
    monkeypatch.setenv("MODELBUS_PROVIDER", "b")
    monkeypatch.setenv("MODELBUS_MODEL", "m2")
    monkeypatch.setenv("MODELBUS_CACHE", "none")
    core = Config.load(path).modelbus
    assert (core.provider, core.model, core.cache) == ("b", "m2", "none")


def test_env_override_drives_the_client(parrot_on_path, tmp_path, monkeypatch):
    path = _write(
        tmp_path,
        '[modelbus]\nprovider = "nonexistent"\ncache = "memory"\n'
        'plugins = { allow = ["parrot"] }\n',
    )
    monkeypatch.setenv("MODELBUS_PROVIDER", "parrot")
    monkeypatch.setenv("MODELBUS_CACHE", "none")
    with modelbus.Client(str(path)) as client:
        assert client.cache is None
        assert client.chat("hi").provider == "parrot"


def test_config_search_order(tmp_path, monkeypatch, fresh_plugins):
    xdg = tmp_path / "xdg-config"
    (xdg / "modelbus").mkdir(parents=True)
    user = _write(xdg / "modelbus", '[modelbus]\nmodel = "from-user-dir"\n')
    cwd = tmp_path / "project"
    cwd.mkdir()
    monkeypatch.chdir(cwd)

    def model() -> str | None:
        return Config.load().modelbus.model

    assert find_config() == user
    assert model() == "from-user-dir"
    local = _write(cwd, '[modelbus]\nmodel = "from-cwd"\n')
    assert find_config() == local.resolve()
    assert model() == "from-cwd"
    env_file = _write(tmp_path, '[modelbus]\nmodel = "from-env"\n', "env.toml")
    monkeypatch.setenv("MODELBUS_CONFIG", str(env_file))
    assert model() == "from-env"
    explicit = _write(tmp_path, '[modelbus]\nmodel = "explicit"\n', "explicit.toml")
    assert Config.load(explicit).modelbus.model == "explicit"


def test_no_config_anywhere_gives_defaults(tmp_path, fresh_plugins):
    assert find_config() is None
    cfg = Config.load()
    assert cfg.source == "<defaults>" and cfg.modelbus.cache == "memory"


def test_missing_explicit_or_env_config_is_an_error(tmp_path, monkeypatch, fresh_plugins):
    with pytest.raises(ConfigError, match="config file not found"):
        Config.load(tmp_path / "nope.toml")
    monkeypatch.setenv("MODELBUS_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError) as e:
        Config.load()
    assert e.value.source == str(tmp_path / "gone.toml")


# --- modelbus config check / show ------------------------------------------------------------


def test_config_check_valid_and_invalid(parrot_on_path, tmp_path):
    env = clean_environ(tmp_path)
    good = _write(tmp_path, PARROT + '[providers.parrot]\nprefix = "> "\n', "good.toml")
    out = run_cli(["config", "check", str(good)], env=env, cwd=tmp_path, path=[parrot_on_path])
    assert (out.returncode, out.stdout) == (0, f"ok: {good}\n")

    bad = _write(tmp_path, PARROT + "[retry_policies.exponential]\nmax_atempts = 5\n", "bad.toml")
    out = run_cli(["config", "check", str(bad)], env=env, cwd=tmp_path, path=[parrot_on_path])
    assert out.returncode == 2
    assert out.stdout == ""
    line = out.stderr.strip()
    assert line.startswith("modelbus: config error: unknown key 'max_atempts'")
    assert "key: retry_policies.exponential.max_atempts" in line
    assert f"in: {bad}" in line and "accepted keys: deadline_s, initial_delay_s" in line
    assert "\n" not in line and "Traceback" not in out.stderr

    # the selected cache must exist too, and the catalog must have known fields
    for text, key in (
        (
            PARROT.replace('provider = "parrot"', 'provider = "parrot"\ncache = "redis"'),
            "key: modelbus.cache",
        ),
        (PARROT + '[catalog."parrot-1"]\ninput_price = 1.0\n', "key: catalog"),
    ):
        bad.write_text(text)
        out = run_cli(["config", "check", str(bad)], env=env, cwd=tmp_path, path=[parrot_on_path])
        assert out.returncode == 2 and key in out.stderr, out.stderr


def test_config_show_fills_defaults_and_masks_secrets(parrot_on_path, tmp_path):
    path = _write(
        tmp_path,
        PARROT + '[providers.parrot]\napi_key = { env = "PARROT_KEY" }\n'
        '[models.fast]\nprovider = "parrot"\nmodel = "parrot-2"\n',
    )
    env = clean_environ(tmp_path, PARROT_KEY="planted-SECRET-987")
    out = run_cli(
        ["config", "show", "--config", str(path)], env=env, cwd=tmp_path, path=[parrot_on_path]
    )
    assert out.returncode == 0, out.stderr
    assert "SECRET-987" not in out.stdout + out.stderr
    shown = json.loads(out.stdout)
    assert shown["source"] == str(path)
    assert shown["providers"]["parrot"] == {
        "api_key": "**********",
        "prefix": "parrot: ",
        "default_model": "parrot-1",
        "fail_status": None,
        "fail_start": False,
    }
    assert shown["caches"]["memory"]["max_entries"] == 10_000  # default of the selected cache
    assert shown["retry_policies"]["exponential"]["max_attempts"] == 3
    assert shown["modelbus"]["plugins"] == {"allow": ["parrot"], "block": []}
    assert shown["models"]["fast"]["model"] == "parrot-2"


@pytest.mark.parametrize(
    ("config", "key", "fragment"),
    [
        ({"modelbus": {"templates_dir": "~nosuchuser9/x"}}, "modelbus.templates_dir", "~"),
        ({"log": {"path": "calls\x00.db"}}, "log.path", "NUL"),
        (
            {"modelbus": {"cache": "sqlite"}, "caches": {"sqlite": {"path": "~nosuchuser9/c.db"}}},
            "caches.sqlite.path",
            "a user this machine does not have",
        ),
    ],
)
def test_a_path_the_file_system_cannot_take_is_a_config_error(
    config: dict[str, object], key: str, fragment: str
) -> None:
    # They passed the config checks, then ended `modelbus config check` with a
    # RuntimeError traceback (~user) or printed one from the call log's writer (NUL).
    with pytest.raises(ConfigError) as e:
        modelbus.Client(config)
    assert e.value.key == key and fragment in str(e.value)


def test_a_config_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    # Windows editors save UTF-8 with a BOM; tomllib took it for a syntax error at line 1.
    path = tmp_path / "modelbus.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'[modelbus]\ncache = "none"\n')
    assert Config.load(path).modelbus.cache == "none"
