"""The pluggy hook implementations of modelbus-local (entry point ``local``).

Imported by plugin discovery, so it imports neither llama-cpp-python nor the openai SDK:
the providers load their modules when built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from modelbus.errors import APIConnectionError
from modelbus.hookspecs import hookimpl

from ._settings import LocalSettings

__all__ = [
    "BUNDLED_MODEL_NAME",
    "TINY_MODEL_NAME",
    "make_lazy_provider",
    "make_provider",
    "modelbus_register_catalog",
    "modelbus_register_doctor_checks",
    "modelbus_register_providers",
    "preset_candidates",
    "resolve_auto",
]

# = tiny_model.MODEL_NAME, repeated so that plugin discovery does not import numpy
TINY_MODEL_NAME = "modelbus-tiny-random"
# the stem of _default_model.BUNDLED_MODEL_FILE: the name the embedded backend reports
BUNDLED_MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1"


def preset_candidates() -> list[tuple[str, str]]:
    """``(preset, base_url)`` of every server preset, in the order ``auto`` prefers them."""
    from ._presets import PRESETS

    return [(p.name, p.base_url) for p in PRESETS.values()]


def make_provider(settings: LocalSettings, *, name: str = "local") -> Any:
    """The provider object for ``settings``, built now.

    - ``backend = "embedded"`` → :class:`modelbus_local._embedded.EmbeddedProvider`.
    - ``backend = "server"`` with a named ``server`` preset →
      :class:`modelbus_local._server.LocalServerProvider` on ``base_url`` or the preset's
      URL (nothing is asked of the server until the first call).
    - ``server = "auto"``: probes ``base_url`` if set, else every preset URL at once
      (``GET /v1/models``, ``probe_timeout_s`` each), and uses the first that answers,
      logging which (``local.server``). When nothing answers: with ``base_url`` set,
      :class:`APIConnectionError` naming it; otherwise the embedded backend on
      ``model_path`` (or the bundled SmolLM2, else the tiny random-weights model), with
      one short warning per process (``local.no_server``; the probes' details at debug
      level, ``local.probed``).

    Raises :class:`ConfigError` for a ``model_path`` that is missing or not GGUF, and
    :class:`PluginError` when the embedded fallback needs llama-cpp-python and it is not
    installed. The client builds :func:`make_lazy_provider` instead.
    """
    if settings.backend == "embedded":
        from ._embedded import EmbeddedProvider

        return EmbeddedProvider(settings, name=name)
    from ._server import LocalServerProvider

    if settings.server != "auto":
        return LocalServerProvider(settings, name=name)
    return resolve_auto(settings, name)


def make_lazy_provider(settings: LocalSettings, *, name: str = "local") -> Any:
    """What the client builds for ``[providers.local]``: :func:`make_provider`, except that
    ``server = "auto"`` gives a :class:`modelbus_local._auto.AutoProvider`, which probes
    on the first call that needs a backend, so that a cache hit probes nothing."""
    if settings.backend == "server" and settings.server == "auto":
        from ._auto import AutoProvider

        return AutoProvider(settings, name=name, resolve=resolve_auto)
    return make_provider(settings, name=name)


# Warnings already given in this process: a client per request must not repeat them.
_SAID: set[tuple[str, ...]] = set()


def resolve_auto(settings: LocalSettings, name: str) -> Any:
    """``server = "auto"``: probe, then the server that answered or the embedded
    fallback (see :func:`make_provider`)."""
    from modelbus.plugin import get_logger

    from ._probe import describe_tried, probe_servers
    from ._server import LocalServerProvider

    log = get_logger("modelbus.local")
    candidates = [("base_url", settings.base_url)] if settings.base_url else preset_candidates()
    result = probe_servers(candidates, settings.probe_timeout_s)
    found = result.found
    if found is not None:
        log.info(
            "local.server",
            server=found.kind,
            base_url=found.base_url,
            detail=f"using the local {found.kind} server at {found.base_url}",
        )
        return LocalServerProvider(
            settings, name=name, kind=found.kind, base_url=found.base_url, models=found.models
        )
    tried = describe_tried(result.tried)
    if settings.base_url:
        raise APIConnectionError(
            f"no OpenAI-compatible server answered GET {settings.base_url}/models: {tried}",
            provider=name,
            hint="start the server, or fix [providers.local] base_url",
        )
    from ._embedded import EmbeddedProvider

    noise = ""
    if settings.model_path is None:
        from ._default_model import default_model

        default = default_model()
        path = str(default.path)
        if not default.real:
            noise = (
                " (random weights: replies are noise; pip install 'modelbus-local[model]' "
                "or set [providers.local] model_path)"
            )
    else:
        path = settings.model_path
    log.debug("local.probed", probed=tried)
    said = (tried, path)
    if said not in _SAID:
        _SAID.add(said)
        servers = ", ".join(p.name for p in result.tried)
        log.warning(
            "local.no_server",
            detail=f"no local server answered ({servers}); using the embedded "
            f"{Path(path).stem}{noise}",
        )
    embedded = attrs.evolve(settings, backend="embedded", model_path=path)
    return EmbeddedProvider(embedded, name=name)


@hookimpl
def modelbus_register_providers(register: Any) -> None:
    register(
        "local",
        make_lazy_provider,
        settings=LocalSettings,
        description="Local models: an OpenAI-compatible local server (Ollama, llama.cpp, "
        "vLLM, LM Studio; server='auto' finds one) or a GGUF file via llama-cpp-python "
        "(backend='embedded')",
    )


def _doctor(provider: Any) -> list[tuple[str, bool, str]]:
    from ._doctor import check_local

    return check_local(provider)


@hookimpl
def modelbus_register_doctor_checks(register: Any) -> None:
    register("local", _doctor)


@hookimpl
def modelbus_register_catalog(register: Any) -> None:
    # The tiny test model: its context is its GGUF's llama.context_length, and running
    # it on this machine costs nothing per token, so costs show as $0 rather than unknown.
    register(
        TINY_MODEL_NAME,
        {
            "provider": "local",
            "mode": "chat",
            "context_window": 2048,
            "input_per_1m": 0.0,
            "cached_input_per_1m": 0.0,
            "output_per_1m": 0.0,
            "source": "modelbus-local tiny_model.py (random weights, run locally: no price)",
        },
    )
    # The bundled default (modelbus-local[model]): SmolLM2's GGUF says
    # llama.context_length = 8192; run locally, so no price.
    register(
        BUNDLED_MODEL_NAME,
        {
            "provider": "local",
            "mode": "chat",
            "context_window": 8192,
            "input_per_1m": 0.0,
            "cached_input_per_1m": 0.0,
            "output_per_1m": 0.0,
            "source": "HuggingFaceTB/SmolLM2-135M-Instruct GGUF metadata (run locally: no price)",
        },
    )
