"""modelbus-parrot: a third-party plugin used by modelbus's tests.

- provider ``parrot``: answers ``prefix + last user message``; usage counts words, so
  tests know the token numbers. ``fail_status`` makes every call fail with that HTTP
  status and an error message that (carelessly) contains the api key: the core must
  redact it everywhere it prints or logs. ``fail_start`` makes the provider fail to start.
- cache ``parrot-files``: one file per key in ``directory``, so two processes share it.
- a doctor check for ``parrot`` and a command ``parrot-say``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import click

import modelbus
from modelbus.errors import error_for_status


@attrs.frozen
class ParrotSettings:
    api_key: modelbus.Secret | None = None
    prefix: str = "parrot: "
    default_model: str = "parrot-1"
    fail_status: int | None = None
    fail_start: bool = False


class ParrotProvider:
    name = "parrot"
    cache_identity = "parrot://"

    def __init__(self, settings: ParrotSettings) -> None:
        if settings.fail_start:
            raise OSError("cannot open /dev/parrot")
        self.settings = settings
        self.default_model = settings.default_model

    def _check(self) -> None:
        status = self.settings.fail_status
        if status is not None:
            key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
            raise error_for_status(status)(
                f"the key {key} was refused",
                provider="parrot",
                status_code=status,
                request_id="req-parrot",
            )

    def _answer(self, request: modelbus.ChatRequest) -> tuple[str, modelbus.Usage]:
        text = self.settings.prefix + request.messages[-1].text
        prompt = sum(len(m.text.split()) for m in request.messages)
        completion = len(text.split())
        return text, modelbus.Usage(prompt, completion, prompt + completion)

    def chat(self, request: modelbus.ChatRequest) -> modelbus.ChatResponse:
        self._check()
        text, usage = self._answer(request)
        return modelbus.ChatResponse(
            id="parrot-1",
            model=request.model,
            message=modelbus.Message("assistant", text),
            finish_reason="stop",
            usage=usage,
        )

    def stream(self, request: modelbus.ChatRequest) -> Iterator[modelbus.ChatChunk]:
        self._check()
        text, usage = self._answer(request)
        words = text.split(" ")
        for i, word in enumerate(words):
            yield modelbus.ChatChunk(
                id="parrot-1",
                model=request.model,
                role="assistant" if i == 0 else None,
                content=word if i == 0 else " " + word,
            )
        yield modelbus.ChatChunk(
            id="parrot-1", model=request.model, finish_reason="stop", usage=usage
        )


@attrs.frozen
class FilesCacheSettings:
    directory: str


class FilesCache:
    """A cache shared by processes: one file per key (TTL and tags are not kept)."""

    def __init__(self, settings: FilesCacheSettings) -> None:
        self.dir = Path(settings.directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.dir / hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str) -> bytes | None:
        p = self._path(key)
        return p.read_bytes() if p.is_file() else None

    def set(
        self, key: str, value: bytes, ttl_s: float | None = None, tags: Sequence[str] = ()
    ) -> None:
        self._path(key).write_bytes(value)

    def delete(self, key: str) -> bool:
        p = self._path(key)
        existed = p.is_file()
        p.unlink(missing_ok=True)
        return existed

    def invalidate_tags(self, tags: Sequence[str]) -> int:
        return 0

    def clear(self) -> int:
        files = list(self.dir.iterdir())
        for f in files:
            f.unlink()
        return len(files)

    def stats(self) -> Any:
        return modelbus.CacheStats(entries=len(list(self.dir.iterdir())))


def check_parrot(provider: ParrotProvider) -> list[tuple[str, bool, str]]:
    s = provider.settings
    return [
        (
            "api key set",
            s.api_key is not None,
            "from " + s.api_key.source if s.api_key else "set [providers.parrot] api_key",
        ),
        (
            "answers",
            s.fail_status is None,
            f"fails with {s.fail_status}" if s.fail_status else "ok",
        ),
    ]


@click.command("parrot-say")
@click.argument("words", nargs=-1)
def parrot_say(words: tuple[str, ...]) -> None:
    """Repeat WORDS, parrot style."""
    click.echo("squawk: " + " ".join(words))


@modelbus.hookimpl
def modelbus_register_providers(register: Any) -> None:
    register("parrot", ParrotProvider, settings=ParrotSettings, description="Repeats you")


@modelbus.hookimpl
def modelbus_register_caches(register: Any) -> None:
    register(
        "parrot-files", FilesCache, settings=FilesCacheSettings, description="One file per key"
    )


@modelbus.hookimpl
def modelbus_register_doctor_checks(register: Any) -> None:
    register("parrot", check_parrot)


@modelbus.hookimpl
def modelbus_register_commands(cli: click.Group) -> None:
    cli.add_command(parrot_say)
