"""Token counting on a machine that cannot download tiktoken's BPE files.

Each case runs in a fresh interpreter (tiktoken and modelbus keep loaded encodings for the
life of a process) with an empty tiktoken cache and every download sent to a closed
loopback port through ``HTTPS_PROXY`` (requests honours it): what works here works on a
firewalled or air-gapped machine. Expected counts: the OpenAI cookbook's, as in
``test_tokens.py``.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modelbus.builtins._encodings import bundled_bpe, tiktoken_cache_path
from tests.core.plugin_kit import clean_environ, run_cli

MESSAGES = '[{"role": "user", "content": "What is the capital of France?"}]'


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def offline(tmp_path: Path) -> dict[str, str]:
    """An environment with an empty tiktoken cache and no way to download."""
    proxy = f"http://127.0.0.1:{_closed_port()}"
    return clean_environ(
        tmp_path,
        TIKTOKEN_CACHE_DIR=str(tmp_path / "tiktoken-cache"),
        HTTPS_PROXY=proxy,
        HTTP_PROXY=proxy,
        NO_PROXY="",
        MODELBUS_DATA_DIR=str(tmp_path / "data"),
    )


@pytest.fixture
def without_bundle(tmp_path: Path) -> Path:
    """A folder that, first on ``PYTHONPATH``, hides the installed ``bpe-openai`` behind a
    package of the same name without data files (as if it were not installed)."""
    shadow = tmp_path / "shadow"
    (shadow / "bpe_openai").mkdir(parents=True)
    (shadow / "bpe_openai" / "__init__.py").write_text("")
    return shadow


def _python(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_the_bundled_copies_are_tiktokens_files(encoding: str) -> None:
    data = bundled_bpe(encoding)
    assert data is not None, "modelbus[offline] (bpe-openai) is part of the test extra"
    # tiktoken_ext/openai_public.py's expected_hash of each download
    expected = {
        "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    }[encoding]
    assert hashlib.sha256(data).hexdigest() == expected


def test_counts_are_exact_offline_from_the_bundled_encodings(
    offline: dict[str, str], tmp_path: Path
) -> None:
    code = """
        from modelbus import Message
        from modelbus.builtins.tokens import TiktokenCounter
        from tests.core.test_tokens import CHAT_EXAMPLE, _msgs
        c = TiktokenCounter()
        print(c.count_messages(_msgs(CHAT_EXAMPLE), "gpt-4o"), c.count_messages(_msgs(CHAT_EXAMPLE), "gpt-4"))
    """
    env = {**offline, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = _python(code, env, tmp_path)
    assert done.returncode == 0, done.stderr
    # the cookbook's API-reported prompt tokens (test_tokens.py)
    assert done.stdout.split() == ["124", "129"]
    cache = Path(offline["TIKTOKEN_CACHE_DIR"])
    assert {p.name for p in cache.iterdir()} == {
        tiktoken_cache_path("o200k_base").name,  # type: ignore[union-attr]
        tiktoken_cache_path("cl100k_base").name,  # type: ignore[union-attr]
    }


def test_cli_counts_offline(offline: dict[str, str], tmp_path: Path) -> None:
    done = run_cli(["tokens", "-m", "gpt-4o", "-"], env=offline, cwd=tmp_path, input=MESSAGES)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0].isdigit()


def test_without_any_encoding_the_cli_says_what_to_install_in_one_line(
    offline: dict[str, str], without_bundle: Path, tmp_path: Path
) -> None:
    done = run_cli(
        ["tokens", "-m", "gpt-4o", "-"],
        env=offline,
        cwd=tmp_path,
        input=MESSAGES,
        path=[without_bundle],
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("modelbus:")]
    assert len(lines) == 1, done.stderr
    assert "o200k_base" in lines[0]
    assert "modelbus[offline]" in lines[0]
    assert "TIKTOKEN_CACHE_DIR" in lines[0]


def test_without_any_encoding_count_tokens_and_the_context_check_raise_one_error(
    offline: dict[str, str], without_bundle: Path, tmp_path: Path
) -> None:
    code = """
        from modelbus.errors import TokenizerUnavailableError
        from modelbus.testing import FakeProvider, make_client
        fake = FakeProvider("fake")
        client = make_client(fake)
        for what, call in [
            ("count_tokens", lambda: client.count_tokens("hello", model="gpt-4o")),
            # max_tokens leaves 10 tokens of gpt-4o's window: the byte bound cannot prove
            # the prompt fits, so the pre-send check needs the exact count
            ("chat", lambda: client.chat("a prompt of some forty bytes, or so....",
                                         model="gpt-4o", max_tokens=127990)),
        ]:
            try:
                call()
            except TokenizerUnavailableError as exc:
                assert exc.encoding == "o200k_base", exc.encoding
                assert "\\n" not in str(exc), str(exc)
                print(what, "raised")
        print("provider calls", len(fake.requests))
    """
    env = {**offline, "PYTHONPATH": f"{without_bundle}"}
    done = _python(code, env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["count_tokens raised", "chat raised", "provider calls 0"]
