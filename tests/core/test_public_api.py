"""``modelbus.plugin``, the public API of plugin authors: its names are pinned, each is
documented and loads lazily, and no first-party plugin (nor the docs' examples) imports
a private ``modelbus._*`` module."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import modelbus.plugin

ROOT = Path(__file__).resolve().parents[2]

PINNED = [
    "APIConnectionError", "APITimeoutError", "ApproximateCounter", "AsyncProvider", "AttemptLimits",
    "AuthenticationError", "BadRequestError", "BudgetStore", "Cache", "CacheStats",
    "Capabilities", "Charge", "ChatChunk", "ChatRequest", "ChatResponse", "Clock", "ConfigError", "ContentFilterError",
    "ContextLengthExceededError", "DeploymentState", "EmbeddingRequest", "EmbeddingResponse", "FunctionCall",
    "FunctionSpec", "HttpErrorInfo", "ImagePart", "ImageURL", "LockingCache", "Message",
    "ModelbusError", "NotFoundError", "PermissionDeniedError", "PluginError", "PoolState",
    "ProviderError", "REQUEST_ID_HEADERS", "REQUEST_PARAMS", "RateLimit", "RateLimitError", "RateLimiter",
    "RecordField", "Refusal", "RefusalError", "ResponseFormatError", "ResponseFormatHandler",
    "RetryPolicy",
    "SSEDecoder", "Secret", "ServerError", "ServerSentEvent", "StreamAccumulator",
    "StructureError", "SyncProvider", "TextPart", "TokenCounter", "ToolCall",
    "ToolCallDelta", "ToolSpec", "Usage", "adapt_provider", "aiter_sse", "attempt_limits",
    "check_entry", "class_doc", "close_with_loop",
    "decode_body", "describe_error", "embedding_body", "env_secret", "error_for_status",
    "error_for_type", "error_from_http", "get_logger", "hookimpl", "identity_with_credential",
    "is_record", "iter_sse",
    "json_schema", "lazy_exports", "message_from_openai", "message_to_openai",
    "parse_chat_chunk", "parse_chat_response", "parse_embedding_response",
    "read_http_error", "record_fields", "redact_exception", "register_secret",
    "replay_chunks", "request_body", "request_id_from",
    "retry_after_seconds", "should_retry_header", "structure", "type_name", "unstructure",
]  # fmt: skip


def test_the_public_names_are_pinned() -> None:
    """Adding a name is a decision (it must then stay); removing one breaks plugins."""
    assert modelbus.plugin.__all__ == sorted(PINNED)
    assert sorted(dir(modelbus.plugin)) == sorted(PINNED)


@pytest.mark.parametrize("name", PINNED)
def test_every_public_name_loads_and_is_documented(name: str) -> None:
    value = getattr(modelbus.plugin, name)
    if name in ("REQUEST_ID_HEADERS", "REQUEST_PARAMS"):  # constants: in the module doc
        assert f"``{name}``" in (modelbus.plugin.__doc__ or "")
        return
    doc = inspect.getdoc(value) or ""
    assert len(doc) >= 30, f"modelbus.plugin.{name} has no real docstring: {doc!r}"
    assert f"``{name}``" in (modelbus.plugin.__doc__ or ""), f"{name} not in the module doc"


def test_importing_it_loads_nothing_until_a_name_is_read() -> None:
    code = (
        "import sys, modelbus.plugin as p\n"
        "heavy = [m for m in ('modelbus._wire.types', 'modelbus._wire.converter', 'modelbus._wire.sse',\n"
        "         'modelbus._wire.http_errors', 'modelbus.errors', 'attrs') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "p.error_from_http\n"
        "assert 'modelbus._wire.http_errors' in sys.modules and 'modelbus._wire.types' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def _python_files() -> list[Path]:
    roots = [ROOT / "plugins", ROOT / "docs" / "examples"]
    files = [p for r in roots for p in r.rglob("*.py") if "build" not in p.parts]
    assert len(files) > 40  # the scan sees the plugins
    return files


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            mod = node.module
            names = [a.name for a in node.names]
            if mod.startswith("modelbus._") or ".testing._" in mod:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} from {mod}")
            elif mod == "modelbus" and any(n.startswith("_") for n in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} from modelbus import _")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("modelbus._"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} import {a.name}")
    return found


def test_no_plugin_or_example_imports_a_private_modelbus_module() -> None:
    leaks = [hit for p in _python_files() for hit in _private_imports(p)]
    assert not leaks, "use modelbus.plugin instead of:\n" + "\n".join(leaks)


def test_the_scan_finds_a_private_import(tmp_path: Path) -> None:
    bad = ROOT / "plugins" / "_probe_private_import.py"
    try:
        bad.write_text("import modelbus._wire.types\nfrom modelbus._wire.sse import iter_sse\n")
        assert len(_private_imports(bad)) == 2
    finally:
        bad.unlink()


MESSAGES = ROOT / "docs" / "examples" / "modelbus-messages"


def test_the_tutorials_non_openai_provider_is_built_on_the_public_module_only() -> None:
    used = set()
    for path in (MESSAGES / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("modelbus"):
                used.add(node.module)
            elif isinstance(node, ast.Import):
                used.update(a.name for a in node.names if a.name.startswith("modelbus"))
    assert used == {"modelbus.plugin"}, used


def test_the_tutorial_shows_the_messages_provider_and_its_tests() -> None:
    tutorial = (ROOT / "docs" / "plugin-tutorial.md").read_text(encoding="utf-8")
    for name in (
        "src/modelbus_messages/__init__.py",
        "src/modelbus_messages/_wire.py",
        "src/modelbus_messages/_provider.py",
        "tests/conftest.py",
        "tests/test_modelbus_messages.py",
    ):
        assert f'--8<-- "docs/examples/modelbus-messages/{name}"' in tutorial, name
        assert (MESSAGES / name).is_file(), name
