"""Rows measured in fresh interpreters: import time, the first call of a process, peak
memory. Each sample is one child process; the cases take turns round by round."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._context import API_KEY, Context, clean_environ, request_count_check
from ._harness import MESSAGES, MODEL, PARAMS, Check, Row, interleave, measures, row
from .bench_import import _run as spawn_time

# Modules that must not load at ``import modelbus``: provider SDKs and their transports.
SDK_MODULES = ("openai", "anthropic", "litellm", "llama_cpp", "httpx", "httpx2", "aiohttp")
TARGET_IMPORT_OVER_BARE_S = 0.060
TARGET_FIRST_CALL = 0.5
# Loaded by the raw SDK, and by no modelbus chat call: the SDK stays for the admin APIs.
CHAT_PATH_FREE_OF = ("openai", "pydantic")
TARGET_RSS = 1.1


def _child_env(tmp: str) -> dict[str, str]:
    _precompile()
    env = clean_environ()
    env["XDG_CONFIG_HOME"] = tmp  # no user config file: the same work on every machine
    # Children run with -S (below): the site hooks of a machine (a .pth that imports
    # typing, certifi...) would otherwise preload modules for the bare baseline and hide
    # their cost from every contender. The import path is this process's, given whole.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    return env


# Every child: no site module (see _child_env), so the figures hold what each contender
# imports itself.
PY = [sys.executable, "-S"]


def _precompile() -> None:
    """Byte-compile modelbus and its installed plugins, as ``pip install`` does for a
    wheel. An editable install under ``PYTHONDONTWRITEBYTECODE`` would otherwise compile
    every module from source in every child (~0.1 s), while the SDKs it is compared with
    come compiled from their wheels."""
    import compileall
    from importlib import metadata
    from importlib.util import find_spec

    names = {"modelbus"}
    names.update(
        ep.value.split(".")[0].split(":")[0] for ep in metadata.entry_points(group="modelbus")
    )
    for name in sorted(names):
        spec = find_spec(name)
        for path in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(path, quiet=1)


def _lines(code: str, env: dict[str, str], cwd: str) -> list[str]:
    """Run ``python -S -c code`` and return the lines it printed."""
    out = subprocess.run([*PY, "-c", code], env=env, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{code}\n{out.stderr[-2000:]}")
    return out.stdout.strip().splitlines()


def _report(code: str, env: dict[str, str], cwd: str) -> float:
    """Run ``python -S -c code``, which prints one number as its last line; return it."""
    return float(_lines(code, env, cwd)[-1])


def _litellm_installed(ctx: Context) -> bool:
    from importlib.util import find_spec

    return ctx.use_litellm and find_spec("litellm") is not None


def _litellm_absent(ctx: Context) -> str:
    return "skipped (--quick or --no-litellm)" if not ctx.use_litellm else "LiteLLM not installed"


@row("import", "start-up: import and Client() in a fresh interpreter")
def import_row(ctx: Context) -> list[Row]:
    cases = {
        "python -S -c pass": "pass",
        "import modelbus": "import modelbus",
        "from modelbus import Client; Client()": "from modelbus import Client; Client()",
        "import openai; openai.OpenAI()": "import openai; openai.OpenAI()",
    }
    every = {"import openai; openai.OpenAI()": 2}
    if _litellm_installed(ctx):
        cases["import litellm"] = "import litellm"
        every["import litellm"] = 10
    rounds = ctx.scale(20, 6)
    with tempfile.TemporaryDirectory() as tmp:
        env = _child_env(tmp)
        fns = {
            name: (lambda c=code: spawn_time(["-S", "-c", c], env, Path(tmp)))
            for name, code in cases.items()
        }
        samples = interleave(fns, rounds, warmup=1, every=every)
        probe = (
            "import json, sys; from modelbus import Client; Client(); "
            f"print(json.dumps([m for m in {SDK_MODULES!r} if m in sys.modules]))"
        )
        loaded = json.loads(
            subprocess.run(
                [*PY, "-c", probe], env=env, cwd=tmp, capture_output=True, text=True
            ).stdout
        )
    roles: dict[str, Any] = {
        "python -S -c pass": "baseline",
        "import modelbus": "subject",
        "from modelbus import Client; Client()": "subject",
        "import openai; openai.OpenAI()": "reference",
        "import litellm": "reference",
    }
    found = measures(samples, roles, {"import litellm": _litellm_absent(ctx)})
    r = Row(
        "import",
        "start-up: import and Client() in a fresh interpreter",
        "s",
        "per process",
        "python -S -c pass",
        found,
    )
    bare = r.get("python -S -c pass").median
    over = r.get("import modelbus").median - bare
    r.checks.append(
        Check(
            "import modelbus ≤ 60 ms over python -S -c pass",
            f"{over * 1000:.1f} ms over",
            over <= TARGET_IMPORT_OVER_BARE_S,
        )
    )
    client = r.get("from modelbus import Client; Client()").median - bare
    sdk = r.get("import openai; openai.OpenAI()").median - bare
    r.checks.append(
        Check(
            "Client() ≤ 0.5x the SDK's import + client (over bare)",
            f"{client * 1000:.0f} ms vs {sdk * 1000:.0f} ms: {client / sdk:.2f}x",
            client <= 0.5 * sdk,
        )
    )
    r.checks.append(
        Check(
            "no provider SDK imported by Client()",
            "none of " + ", ".join(SDK_MODULES) if not loaded else "loaded: " + ", ".join(loaded),
            not loaded,
        )
    )
    r.notes.append(
        "each sample: a fresh `python -S` (no site hooks preloading modules for the "
        "baseline; the import path passed in PYTHONPATH), spawn to exit; modelbus "
        "byte-compiled first, as pip does when installing a wheel"
    )
    return [r]


_FIRST_CALL = {
    "raw openai first call": """
import time; t0 = time.perf_counter()
import openai
c = openai.OpenAI(base_url={url!r}, api_key={key!r})
r = c.chat.completions.create(model={model!r}, messages={messages!r}, **{params!r})
assert r.choices[0].message.content
print(time.perf_counter() - t0)
""",
    "modelbus first call": """
import time; t0 = time.perf_counter()
from modelbus import Client
c = Client({{"modelbus": {{"provider": "openai"}},
            "providers": {{"openai": {{"base_url": {url!r}}}}}}})
r = c.chat({messages!r}, model={model!r}, **{params!r})
assert r.content
import sys
print("loaded:" + ",".join(m for m in {free!r} if m in sys.modules))
print(time.perf_counter() - t0)
""",
    "LiteLLM first call": """
import time; t0 = time.perf_counter()
import litellm
r = litellm.completion(model="openai/" + {model!r}, api_base={url!r}, api_key={key!r},
                       messages={messages!r}, **{params!r})
assert r.choices[0].message.content
print(time.perf_counter() - t0)
""",
}


@row("first-call", "a fresh process's Client() and first call")
def first_call_row(ctx: Context) -> list[Row]:
    srv = ctx.raw_server()
    url = srv.base_url
    before = srv.count()
    fmt: dict[str, Any] = {"url": url, "key": API_KEY, "model": MODEL, "messages": MESSAGES}
    fmt["params"] = PARAMS
    fmt["free"] = CHAT_PATH_FREE_OF
    codes = {name: src.format(**fmt) for name, src in _FIRST_CALL.items()}
    if not _litellm_installed(ctx):
        del codes["LiteLLM first call"]
    rounds = ctx.scale(8, 4)
    with tempfile.TemporaryDirectory() as tmp:
        env = _child_env(tmp)
        fns = {name: (lambda c=code: _report(c, env, tmp)) for name, code in codes.items()}
        samples = interleave(fns, rounds, warmup=1, every={"LiteLLM first call": 4})
        loaded = _lines(codes["modelbus first call"], env, tmp)[-2].removeprefix("loaded:")
    calls = sum(len(v) for v in samples.values()) + len(codes) + 1  # + warm-ups, probe
    roles: dict[str, Any] = {
        "raw openai first call": "baseline",
        "modelbus first call": "subject",
        "LiteLLM first call": "reference",
    }
    found = measures(samples, roles, {"LiteLLM first call": _litellm_absent(ctx)})
    r = Row(
        "first-call",
        "a fresh process's Client() and first call",
        "s",
        "per process",
        "raw openai first call",
        found,
    )
    ratio = r.ratio("modelbus first call")
    assert ratio is not None
    r.checks.append(
        Check(
            f"≤ {TARGET_FIRST_CALL}x raw openai import + client + first call",
            f"{ratio:.2f}x",
            ratio <= TARGET_FIRST_CALL,
        )
    )
    r.checks.append(
        Check(
            "the chat path imports neither " + " nor ".join(CHAT_PATH_FREE_OF),
            f"loaded: {loaded}" if loaded else "neither loaded",
            not loaded,
        )
    )
    r.checks.append(request_count_check(srv, before, calls))
    r.notes.append(
        "each sample: a fresh `python -S`, timed in it from before the first import to the "
        "first answer (modelbus: import, Client() with plugin discovery, the provider, the "
        "call); raw asyncio server process; modelbus byte-compiled first, as pip does"
    )
    return [r]


_RSS = """
{code}
import resource
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


@row("rss", "peak RSS after import modelbus + openai plugin loaded")
def rss_row(ctx: Context) -> list[Row]:
    url = ctx.server()
    cases = {
        "import openai": "import openai",
        "modelbus + openai plugin": (
            "import modelbus\n"
            f"c = modelbus.Client({{'modelbus': {{'provider': 'openai'}}, "
            f"'providers': {{'openai': {{'base_url': {url!r}}}}}}})\n"
            "c.provider('openai')"
        ),
        "import modelbus": "import modelbus",
    }
    if _litellm_installed(ctx):
        cases["import litellm"] = "import litellm"
    rounds = ctx.scale(3, 1)
    with tempfile.TemporaryDirectory() as tmp:
        env = _child_env(tmp)
        fns = {
            name: (lambda c=code: _report(_RSS.format(code=c), env, tmp))
            for name, code in cases.items()
        }
        samples = interleave(fns, rounds, every={"import litellm": 3})
    roles: dict[str, Any] = {
        "import openai": "baseline",
        "modelbus + openai plugin": "subject",
        "import modelbus": "reference",
        "import litellm": "reference",
    }
    found = measures(samples, roles, {"import litellm": _litellm_absent(ctx)})
    r = Row(
        "rss",
        "peak RSS after import modelbus + openai plugin loaded",
        "bytes",
        "per process",
        "import openai",
        found,
    )
    ratio = r.ratio("modelbus + openai plugin")
    assert ratio is not None
    r.checks.append(Check("≤ 1.1x import openai", f"{ratio:.2f}x", ratio <= TARGET_RSS))
    r.notes.append(
        "ru_maxrss of a fresh interpreter; modelbus: Client() with plugin discovery and the "
        "openai provider built (SDK imported)"
    )
    return [r]
