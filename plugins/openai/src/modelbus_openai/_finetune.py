"""Checking a chat fine-tuning file (JSONL) and estimating what training it costs.

The format is OpenAI's chat fine-tuning format (fine-tuning guide, "Preparing your
dataset"; cookbook "Data preparation and analysis for chat model fine-tuning"): one JSON
object per line with ``messages`` (and optionally ``tools`` / ``functions`` /
``parallel_tool_calls``). The checks follow the cookbook's format error list (missing
messages, unrecognized keys, bad roles, missing content, no assistant message) plus the
rules of the guide for ``weight`` (assistant only, 0 or 1) and tool calls (``id``,
``type: "function"``, ``function.name``, ``function.arguments`` as a JSON string, every
``tool`` message answering an earlier call id).

Token counts use a modelbus token counter (tiktoken for OpenAI models); the cost per
epoch follows the cookbook: billed tokens = the sum over examples of min(tokens, limit),
times the model's training price per 1M tokens from the catalog (``training_per_1m``,
set in config as ``[catalog."gpt-4o-mini"] training_per_1m = ...`` from OpenAI's pricing
page; modelbus ships no training prices it could not source, and reports the cost as
unknown without one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from attrs import field, frozen

from modelbus.plugin import message_from_openai
from modelbus.protocols import TokenCounter

__all__ = ["Problem", "ValidationReport", "default_epochs", "validate_file", "validate_lines"]

_TOP_KEYS = frozenset(("messages", "tools", "functions", "parallel_tool_calls"))
_ROLES = frozenset(("system", "developer", "user", "assistant", "tool", "function"))
_MESSAGE_KEYS = frozenset(
    ("role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call", "refusal")
)
# Cookbook: aim for 3 epochs, raised/lowered so that examples x epochs lands in 100..25000.
TARGET_EPOCHS, MIN_TARGET_EXAMPLES, MAX_TARGET_EXAMPLES = 3, 100, 25_000
MIN_DEFAULT_EPOCHS, MAX_DEFAULT_EPOCHS = 1, 25


@frozen
class Problem:
    """One problem: 1-based ``line`` of the file and what is wrong there."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@frozen
class ValidationReport:
    """What :func:`validate_lines` found.

    ``examples``: lines holding an example (blank lines skipped); ``problems``: every
    problem in line order; ``tokens``: line → prompt tokens of each well-formed example
    (messages and tools); ``assistant_tokens``: tokens of the assistant targets;
    ``token_limit``: tokens allowed per example (``None``: not checked);
    ``training_per_1m``: US dollars per 1M training tokens (``None``: not in the catalog).
    """

    model: str
    examples: int
    problems: tuple[Problem, ...]
    tokens: Mapping[int, int] = field(factory=dict)
    assistant_tokens: int = 0
    token_limit: int | None = None
    training_per_1m: float | None = None
    counter_exact: bool = True

    @property
    def ok(self) -> bool:
        """No problems and at least one example."""
        return not self.problems and self.examples > 0

    @property
    def over_limit(self) -> tuple[int, ...]:
        """Lines whose example exceeds ``token_limit`` (truncated when trained)."""
        if self.token_limit is None:
            return ()
        return tuple(line for line, n in self.tokens.items() if n > self.token_limit)

    @property
    def billing_tokens_per_epoch(self) -> int:
        """Tokens billed per epoch: each example counts up to ``token_limit``."""
        limit = self.token_limit
        return sum(min(n, limit) if limit else n for n in self.tokens.values())

    @property
    def default_epochs(self) -> int:
        """The epochs OpenAI picks for ``n_epochs="auto"`` (cookbook heuristic)."""
        return default_epochs(len(self.tokens))

    @property
    def cost_per_epoch_usd(self) -> float | None:
        """US dollars per epoch, or ``None`` when the training price is unknown."""
        if self.training_per_1m is None:
            return None
        return self.billing_tokens_per_epoch * self.training_per_1m / 1_000_000

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (``modelbus finetune validate --json``)."""
        counts = list(self.tokens.values())
        return {
            "model": self.model,
            "examples": self.examples,
            "ok": self.ok,
            "problems": [{"line": p.line, "message": p.message} for p in self.problems],
            "tokens": {
                "min": min(counts, default=0),
                "max": max(counts, default=0),
                "total": sum(counts),
                "exact": self.counter_exact,
            },
            "assistant_tokens": self.assistant_tokens,
            "token_limit": self.token_limit,
            "over_limit_lines": list(self.over_limit),
            "billing_tokens_per_epoch": self.billing_tokens_per_epoch,
            "default_epochs": self.default_epochs,
            "training_per_1m": self.training_per_1m,
            "cost_per_epoch_usd": self.cost_per_epoch_usd,
        }


def default_epochs(n_examples: int) -> int:
    """OpenAI's default ``n_epochs`` for ``n_examples`` (cookbook heuristic)."""
    if n_examples <= 0:
        return 0
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


def _check_tool_calls(
    where: str, calls: Any, names: set[str] | None, out: list[str], seen_ids: set[str]
) -> None:
    if not isinstance(calls, list) or not calls:
        out.append(f"{where}.tool_calls must be a non-empty list")
        return
    for j, tc in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        if not isinstance(tc, Mapping):
            out.append(f"{at} must be an object")
            continue
        if not isinstance(tc.get("id"), str) or not tc["id"]:
            out.append(f"{at} has no 'id'")
        else:
            seen_ids.add(tc["id"])
        if tc.get("type") != "function":
            out.append(f"{at}.type must be 'function'")
        fn = tc.get("function")
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            out.append(f"{at}.function.name is missing")
            continue
        if names is not None and fn["name"] not in names:
            out.append(f"{at} calls {fn['name']!r}, which is not in 'tools'")
        args = fn.get("arguments")
        if not isinstance(args, str):
            out.append(f"{at}.function.arguments must be a JSON string")
        else:
            try:
                json.loads(args)
            except ValueError:
                out.append(f"{at}.function.arguments is not valid JSON")


def _tool_names(example: Mapping[str, Any], out: list[str]) -> set[str] | None:
    tools = example.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        out.append("'tools' must be a list")
        return None
    names: set[str] = set()
    for i, t in enumerate(tools):
        fn = t.get("function") if isinstance(t, Mapping) else None
        if (
            not isinstance(t, Mapping)
            or t.get("type") != "function"
            or not isinstance(fn, Mapping)
            or not isinstance(fn.get("name"), str)
        ):
            out.append(f"tools[{i}] must be {{'type': 'function', 'function': {{'name': ...}}}}")
            continue
        names.add(fn["name"])
    return names


def check_example(example: Any) -> list[str]:
    """The problems of one decoded line (empty when it is a valid example)."""
    if not isinstance(example, Mapping):
        return [f"expected a JSON object, got {type(example).__name__}"]
    out = [
        f"unrecognized key {k!r} (allowed: {', '.join(sorted(_TOP_KEYS))})"
        for k in example
        if k not in _TOP_KEYS
    ]
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*out, "missing 'messages' (a non-empty list)"]
    names = _tool_names(example, out)
    call_ids: set[str] = set()
    assistants = 0
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, Mapping):
            out.append(f"{where} must be an object")
            continue
        out.extend(f"{where}: unrecognized key {k!r}" for k in m if k not in _MESSAGE_KEYS)
        role = m.get("role")
        if role not in _ROLES:
            out.append(f"{where}: role must be one of {sorted(_ROLES)}, got {role!r}")
            continue
        content = m.get("content")
        calls = m.get("tool_calls") or m.get("function_call")
        if role == "assistant":
            assistants += 1
            if m.get("tool_calls") is not None:
                _check_tool_calls(where, m["tool_calls"], names, out, call_ids)
        elif "weight" in m:
            out.append(f"{where}: 'weight' is only allowed on assistant messages")
        if "weight" in m and m["weight"] not in (0, 1):
            out.append(f"{where}: weight must be 0 or 1, got {m['weight']!r}")
        if role == "tool":
            tcid = m.get("tool_call_id")
            if not isinstance(tcid, str):
                out.append(f"{where}: a tool message needs 'tool_call_id'")
            elif tcid not in call_ids:
                out.append(f"{where}: tool_call_id {tcid!r} answers no earlier tool call")
        if content is None and not (role == "assistant" and calls):
            out.append(f"{where}: missing 'content'")
        elif content is not None and not isinstance(content, (str, list)):
            out.append(f"{where}: content must be a string or a list of parts")
    if assistants == 0:
        out.append("no assistant message: every example needs at least one target")
    return out


def _count(example: Mapping[str, Any], counter: TokenCounter, model: str) -> tuple[int, int]:
    msgs = [message_from_openai(m) for m in example["messages"]]
    n = counter.count_messages(msgs, model)
    if example.get("tools"):
        n += counter.count_text(json.dumps(example["tools"]), model)
    for m in msgs:
        for tc in m.tool_calls or ():
            n += counter.count_text(tc.function.name + tc.function.arguments, model)
    assistant = sum(counter.count_text(m.text, model) for m in msgs if m.role == "assistant")
    return n, assistant


def validate_lines(
    lines: Iterable[str],
    *,
    model: str,
    counter: TokenCounter,
    token_limit: int | None = None,
    training_per_1m: float | None = None,
) -> ValidationReport:
    """Check every line and count tokens of the valid examples for ``model``.

    ``token_limit``: tokens allowed per example (OpenAI truncates longer ones);
    ``training_per_1m``: US dollars per 1M training tokens, for the cost estimate.
    """
    problems: list[Problem] = []
    tokens: dict[int, int] = {}
    assistant = 0
    examples = 0
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        examples += 1
        try:
            example = json.loads(line)
        except ValueError as exc:
            problems.append(Problem(no, f"not valid JSON: {exc}"))
            continue
        found = check_example(example)
        if found:
            problems.extend(Problem(no, msg) for msg in found)
            continue
        try:
            tokens[no], a = _count(example, counter, model)
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(Problem(no, f"cannot be read as chat messages: {exc}"))
            continue
        assistant += a
    return ValidationReport(
        model,
        examples,
        tuple(problems),
        tokens,
        assistant,
        token_limit,
        training_per_1m,
        counter.exact,
    )


def validate_file(path: str | Path, **kw: Any) -> ValidationReport:
    """:func:`validate_lines` over a UTF-8 JSONL file. Raises ``OSError`` when unreadable."""
    with open(path, encoding="utf-8") as f:
        return validate_lines(f, **kw)


def summary_lines(report: ValidationReport, path: str, *, max_problems: int = 50) -> Sequence[str]:
    """The human-readable report printed by ``modelbus finetune validate``."""
    out = [
        f"{path}: {report.examples} examples, {len(report.problems)} problems "
        f"({'OK' if report.ok else 'NOT OK'})"
    ]
    out += [f"  {p}" for p in report.problems[:max_problems]]
    if len(report.problems) > max_problems:
        out.append(f"  ... and {len(report.problems) - max_problems} more")
    counts = list(report.tokens.values())
    if counts:
        kind = "exact" if report.counter_exact else "approximate"
        out.append(
            f"tokens per example ({kind}, {report.model}): min {min(counts)}, "
            f"max {max(counts)}, total {sum(counts)}; assistant targets "
            f"{report.assistant_tokens}"
        )
    if report.token_limit is not None:
        over = report.over_limit
        detail = f": lines {', '.join(map(str, over[:20]))}" if over else ""
        out.append(
            f"examples over the limit of {report.token_limit} tokens: {len(over)}"
            f"{detail} (they are truncated when trained)"
        )
    else:
        out.append(
            f"examples over the context limit: not checked (no context window for "
            f"{report.model} in the catalog; pass --max-tokens)"
        )
    epochs = report.default_epochs
    billed = report.billing_tokens_per_epoch
    cost = report.cost_per_epoch_usd
    if cost is None:
        out.append(
            f"billed tokens per epoch: {billed}; estimated cost: unknown — the catalog "
            f"has no training price for {report.model} (set "
            f'[catalog."{report.model}"] training_per_1m in modelbus.toml)'
        )
    else:
        out.append(
            f"billed tokens per epoch: {billed}; estimated cost: ${cost:.4f} per epoch "
            f"(${report.training_per_1m:g} per 1M training tokens), default "
            f"{epochs} epochs: ${cost * epochs:.4f}"
        )
    return out
