"""Secret files and the secret registry (issue 15, item 5).

``{ file = ... }``: at most 64 KiB, one trailing newline stripped, every other control
character refused, only regular files (a FIFO or ``/dev/zero`` can neither hang nor
flood the reader), and no error ever shows the content. The registry masks every
registered value, in the forms a provider or a ``repr`` would print it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import attrs
import pytest

import modelbus
from modelbus._config.config import Config
from modelbus._config.secrets import (
    MAX_SECRET_FILE_BYTES,
    credential_fingerprint,
    identity_with_credential,
    read_secret_file,
    redact_text,
    register_secret,
    resolve_secret,
)
from modelbus.errors import ConfigError, ProviderError

PLANTED = "planted-secret-content"


@attrs.frozen
class XSettings:
    """A provider's settings with one secret."""

    api_key: modelbus.Secret | None = None


def _bytes_read() -> int:
    """Bytes this process has read so far (Linux ``/proc/self/io`` ``rchar``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.parametrize(
    ("content", "value"),
    [
        (b"sk-abc123\n", "sk-abc123"),
        (b"sk-abc123\r\n", "sk-abc123"),
        (b"sk-abc123", "sk-abc123"),
        # only the newline goes: spaces are part of what the file says
        (b" sk-abc123 \n", " sk-abc123 "),
        ("clé-ünïcode\n".encode(), "clé-ünïcode"),
    ],
)
def test_a_secret_file_is_one_line_with_one_optional_newline(tmp_path, content, value):
    f = tmp_path / "key"
    f.write_bytes(content)
    assert read_secret_file(f) == value


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"sk-abc123\n\n", "more than one line"),
        (f"sk-abc123\n{PLANTED}\n".encode(), "more than one line"),
        (f"sk-abc123\r{PLANTED}".encode(), "more than one line"),
        (f"sk-abc\x00{PLANTED}".encode(), "NUL byte"),
        (f"sk-abc\t{PLANTED}".encode(), "control character U+0009"),
        (f"sk-abc\x1b[2J{PLANTED}".encode(), "control character U+001B"),
        (f"sk-abc\x7f{PLANTED}".encode(), "control character U+007F"),
        (f"sk-abc\u0085{PLANTED}".encode(), "more than one line"),
        (f"sk-abc\u2028{PLANTED}".encode(), "more than one line"),
        (b"", "is empty"),
        (b"\n", "is empty"),
        (b"\xff\xfe" + PLANTED.encode(), "not UTF-8"),
    ],
)
def test_a_bad_secret_file_is_refused_naming_the_file_not_the_content(tmp_path, content, why):
    f = tmp_path / "key"
    f.write_bytes(content)
    with pytest.raises(ValueError) as e:
        read_secret_file(f)
    assert why in str(e.value)
    assert str(f) in str(e.value)
    assert PLANTED not in str(e.value) and "sk-abc" not in str(e.value)


def test_the_bound_is_64_kib_including_the_newline(tmp_path):
    f = tmp_path / "key"
    f.write_bytes(b"k" * MAX_SECRET_FILE_BYTES)
    assert len(read_secret_file(f)) == MAX_SECRET_FILE_BYTES == 65_536
    f.write_bytes(b"k" * MAX_SECRET_FILE_BYTES + b"\n")
    with pytest.raises(ValueError, match="larger than 64 KiB"):
        read_secret_file(f)


def test_a_huge_file_is_refused_after_reading_at_most_the_bound(tmp_path):
    f = tmp_path / "huge"
    with f.open("wb") as fh:  # sparse: 4 GiB that take no disk
        fh.truncate(4 * 1024**3)
    before = _bytes_read()
    with pytest.raises(ValueError, match="larger than 64 KiB"):
        read_secret_file(f)
    assert _bytes_read() - before < 2 * MAX_SECRET_FILE_BYTES


def test_dev_zero_is_refused_before_any_read():
    before, t0 = _bytes_read(), time.perf_counter()
    with pytest.raises(ValueError, match="'/dev/zero' is a device"):
        read_secret_file("/dev/zero")
    assert _bytes_read() - before < 4096
    assert time.perf_counter() - t0 < 1.0


def test_a_fifo_without_writer_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            read_secret_file(fifo)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    t = threading.Thread(target=read, daemon=True)  # a hang must not hang pytest's exit
    t.start()
    t.join(10)
    assert not t.is_alive(), "reading a FIFO blocked"
    assert isinstance(outcome[0], ValueError) and "is a FIFO" in str(outcome[0])


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        read_secret_file(tmp_path)


def test_a_bad_secret_file_in_a_config_names_key_config_and_secret_file(tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "k.txt").write_text(f"sk-first\n{PLANTED}\n")
    cfg = tmp_path / "modelbus.toml"
    raw = {"providers": {"x": {"api_key": {"file": "keys/k.txt"}}}}
    config = Config.from_dict(raw, source=str(cfg), base_dir=tmp_path)
    with pytest.raises(ConfigError) as e:
        config.section("providers", "x", XSettings)
    assert e.value.key == "providers.x.api_key" and e.value.source == str(cfg)
    assert str(tmp_path / "keys" / "k.txt") in str(e.value)
    assert PLANTED not in str(e.value) and "sk-first" not in str(e.value)


def test_proc_self_environ_never_shows_the_environment(tmp_path):
    """In a real process (whose ``/proc/self/environ`` holds the planted variable)."""
    (tmp_path / "modelbus.toml").write_text(
        '[modelbus]\nprovider = "openai"\nplugins = { allow = ["openai"] }\n'
        '[providers.openai]\napi_key = { file = "/proc/self/environ" }\n'
        'base_url = "http://127.0.0.1:9/v1"\n'
    )
    env = {**os.environ, "OTHER_PROVIDER_KEY": "sk-other-provider-planted-42"}
    for args in (["config", "check"], ["chat", "hi"]):
        out = subprocess.run(
            [sys.executable, "-m", "modelbus.cli", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2, out.stderr
        assert "sk-other-provider-planted-42" not in out.stdout + out.stderr
        assert "'/proc/self/environ' contains a NUL byte" in out.stderr
        assert "key: providers.openai.api_key" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("value", [f"sk-env\n{PLANTED}", f"sk-env\x1b{PLANTED}"])
def test_env_and_literal_secrets_follow_the_same_character_rules(monkeypatch, value):
    monkeypatch.setenv("MODELBUS_TEST_KEY", value)
    for raw in ({"env": "MODELBUS_TEST_KEY"}, value):
        config = Config.from_dict({"providers": {"x": {"api_key": raw}}})
        with pytest.raises(ConfigError) as e:
            config.section("providers", "x", XSettings)
        assert e.value.key == "providers.x.api_key"
        assert PLANTED not in str(e.value) and "sk-env" not in str(e.value)


# --- the registry -------------------------------------------------------------------------------


def test_registered_values_are_masked_in_every_escaped_form():
    tricky = 'planted-"quoted"\\slash-ünï'
    modelbus.Secret(tricky)
    body = json.dumps({"error": {"message": f"bad key {tricky}"}})
    ascii_body = json.dumps({"error": {"message": f"bad key {tricky}"}}, ensure_ascii=True)
    for text in (f"key={tricky}", body, ascii_body, repr(tricky)):
        masked = redact_text(text)
        assert "planted-" not in masked and "**********" in masked, masked


def test_the_longest_value_wins_and_short_values_are_not_registered():
    register_secret("planted-abc")
    register_secret("planted-abc-longer")
    assert redact_text("x planted-abc-longer y") == "x ********** y"
    register_secret("tiny")
    assert redact_text("a tiny word") == "a tiny word"


def test_every_modelbus_error_masks_registered_secrets_even_if_registered_later():
    err = ConfigError("value planted-late-1234 is wrong", key="k")
    modelbus.Secret("planted-late-1234")
    assert "planted-late-1234" not in str(err) + repr(err)
    p = ProviderError(
        "key planted-late-1234 refused",
        body={"error": {"message": "planted-late-1234", "list": ["planted-late-1234"]}},
        hint="planted-late-1234",
    )
    rendered = str(p) + repr(p) + p.message + json.dumps(p.body) + p.hint + repr(p.args)
    assert "planted-late-1234" not in rendered


def test_the_credential_fingerprint_is_one_way_and_positional():
    a = credential_fingerprint(modelbus.Secret("sk-planted-one"), None, None)
    b = credential_fingerprint(modelbus.Secret("sk-planted-two"), None, None)
    assert len(a) == 16 and a != b and "planted" not in a
    assert credential_fingerprint(None, "org", None) != credential_fingerprint(None, None, "org")
    assert credential_fingerprint(None, None) == ""
    assert identity_with_credential("http://x/v1", None) == "http://x/v1"
    ident = identity_with_credential("http://x/v1", "sk-planted-one", None, None)
    assert ident == f"http://x/v1|credential={a}"


@pytest.mark.parametrize(
    ("file", "why"),
    [
        ("~nosuchuser9/key", "secret file path '~nosuchuser9/key' starts with ~ and a user"),
        ("key\x00x", "secret file path has a NUL character"),
    ],
)
def test_a_secret_file_path_the_file_system_cannot_take_says_so(tmp_path, file, why):
    # "embedded null byte" and "Could not determine home directory" named neither the
    # file nor what was wrong with it.
    with pytest.raises(ValueError, match=why):
        resolve_secret({"file": file}, tmp_path)
