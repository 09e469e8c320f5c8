"""Token counting through a local server's own tokenizer.

Routes by server (found on first use and kept):

- llama.cpp ``llama-server``: ``POST /tokenize`` ``{"content", "add_special",
  "parse_special"}`` → ``{"tokens"}`` for text; for messages ``POST /apply-template``
  ``{"messages"}`` → ``{"prompt"}`` (the model's chat template, as the chat route renders
  it), then ``/tokenize`` with special tokens added and parsed, as the chat route does.
  Exact.
- llama-cpp-python's server: ``POST /extras/tokenize`` ``{"input"}`` → ``{"tokens"}``
  (special tokens parsed, BOS added when the model adds one; the count of ``""`` is
  subtracted so text counts carry no BOS). It has no template route: messages are
  counted exactly when ``model_path`` names the GGUF file it serves (its chat template
  and tokenizer are loaded vocabulary-only in this process, as llama-cpp-python's server
  builds prompts); otherwise each message's text is counted by the server and the chat
  template's framing estimated (``exact`` False).
- vLLM: ``POST /tokenize`` ``{"model", "prompt"}`` or ``{"model", "messages",
  "add_generation_prompt": true}`` → ``{"count"}``. Exact.
- Ollama, LM Studio and unknown servers have no tokenizer route:
  :class:`modelbus.plugin.ApproximateCounter` is used (``exact`` False).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from modelbus.errors import ProviderError
from modelbus.plugin import ApproximateCounter, Message, ToolSpec, message_to_openai

from ._presets import root_url
from ._requests import wire_tools

if TYPE_CHECKING:
    from ._server import LocalServerProvider

__all__ = ["ServerTokenCounter"]

Route = Literal["llama-server", "llama-cpp-python", "vllm", "none"]
# Framing tokens of a chat template, estimated where the server cannot render one: per
# message (role markers and separators) and once (the assistant prompt), as in OpenAI's
# cookbook count for ChatML ("How to count tokens with tiktoken").
_PER_MESSAGE = 3
_PER_REPLY = 3
_APPROX = ApproximateCounter()
_NO_ROUTE = frozenset((400, 404, 405, 422, 501))


class ServerTokenCounter:
    """A :class:`modelbus.protocols.TokenCounter` for the models of one local server
    (see the module docstring for the routes). ``exact`` is True where message counts
    equal the ``usage.prompt_tokens`` the server bills. Counting raises the provider's
    mapped errors (:class:`~modelbus.errors.APIConnectionError` when the server is down).
    When the provider sends tools in the prompt (prompt-based function calling), the
    messages are counted as sent, with the tools in the system prompt."""

    def __init__(self, provider: LocalServerProvider) -> None:
        self._p = provider
        self._root = root_url(provider.base_url)
        self._route: Route | None = None
        self._bos = 0  # tokens /extras/tokenize adds to any text (BOS), subtracted
        self._lock = threading.Lock()

    # -- which route --------------------------------------------------------------------
    def _try(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self._p.post_json(self._root + path, body, f"the {path} response")
        except ProviderError as exc:
            # 404/405/501: no such route; 400/422: the route exists with another shape
            # (vLLM's /tokenize refuses llama.cpp's body). Anything else (server down) is
            # the caller's error.
            if exc.status_code in _NO_ROUTE:
                return None
            raise

    def route(self) -> Route:
        """The tokenizer route of this server, probed once (one request per candidate)."""
        if self._route is not None:
            return self._route
        with self._lock:
            if self._route is None:
                self._route = self._find_route()
        return self._route

    def _find_route(self) -> Route:
        kind = self._p.kind
        if kind == "vllm":
            ok = self._try("/tokenize", {"model": self._model(None), "prompt": ""})
            return "vllm" if ok is not None and "count" in ok else "none"
        if kind not in ("llamacpp", "generic"):
            return "none"
        ok = self._try("/tokenize", {"content": "", "add_special": False})
        if ok is not None and isinstance(ok.get("tokens"), list):
            return "llama-server"
        ok = self._try("/extras/tokenize", {"input": ""})
        if ok is not None and isinstance(ok.get("tokens"), list):
            self._bos = len(ok["tokens"])
            return "llama-cpp-python"
        return "none"

    @property
    def exact(self) -> bool:
        """True when message counts come from the server's template and tokenizer (asks
        the server which routes it has on first use)."""
        r = self.route()
        if r == "llama-cpp-python":
            return self._p.local_template() is not None
        return r != "none"

    def serves(self, model: str) -> bool:
        """Every model name: the server answers for whatever it runs."""
        return True

    # -- counting -----------------------------------------------------------------------
    def _model(self, model: str | None) -> str:
        return model or self._p.default_model or ""

    def count_text(self, text: str, model: str | None = None) -> int:
        """Tokens of ``text`` by the server's tokenizer (no BOS, special tokens as text
        where the route allows)."""
        r = self.route()
        if r == "llama-server":
            body = {"content": text, "add_special": False, "parse_special": False}
            return len(self._p.post_json(self._root + "/tokenize", body)["tokens"])
        if r == "llama-cpp-python":
            body2 = {"input": text, "model": self._model(model)}
            tokens = self._p.post_json(self._root + "/extras/tokenize", body2)["tokens"]
            return max(len(tokens) - self._bos, 0)
        if r == "vllm":
            body3 = {"model": self._model(model), "prompt": text, "add_special_tokens": False}
            return int(self._p.post_json(self._root + "/tokenize", body3)["count"])
        return _APPROX.count_text(text, self._model(model))

    def count_messages(
        self,
        messages: Sequence[Message],
        model: str | None = None,
        tools: Sequence[ToolSpec] | None = None,
    ) -> int:
        """Prompt tokens of ``messages`` (and ``tools``) as the server's chat route bills
        them (exactly where :attr:`exact`; see the module docstring)."""
        sent, sent_tools = self._p.as_sent(messages, tools)
        return self.count_sent(sent, sent_tools, model)

    def count_sent(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        model: str | None = None,
    ) -> int:
        """:meth:`count_messages` of messages and tools exactly as they are sent (after
        the provider's prompt-mode rewrite)."""
        r = self.route()
        wire = [message_to_openai(m) for m in messages]
        tool_dicts = wire_tools(tools)
        if r == "llama-server":
            body: dict[str, Any] = {"messages": wire}
            if tool_dicts:
                body["tools"] = tool_dicts
            prompt = self._p.post_json(self._root + "/apply-template", body)["prompt"]
            counted = {"content": prompt, "add_special": True, "parse_special": True}
            return len(self._p.post_json(self._root + "/tokenize", counted)["tokens"])
        if r == "vllm":
            body = {"model": self._model(model), "messages": wire, "add_generation_prompt": True}
            if tool_dicts:
                body["tools"] = tool_dicts
            return int(self._p.post_json(self._root + "/tokenize", body)["count"])
        if r == "llama-cpp-python":
            local = self._p.local_template()
            if local is not None:
                with local.lock:
                    return len(local.prompt_tokens(wire, tool_dicts))
            n = _PER_REPLY + sum(_PER_MESSAGE + self.count_text(m.text, model) for m in messages)
            if tool_dicts:
                import json

                n += self.count_text(json.dumps(tool_dicts), model)
            return n
        return _APPROX.count_messages(messages, self._model(model), tools)
