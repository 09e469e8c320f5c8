"""One vector per text from a server that answers ``/embeddings`` with one per token.

llama-cpp-python's server (``python -m llama_cpp.server --embedding true``) has no
pooling setting, and a chat model's GGUF file declares no pooling, so each
``data[i].embedding`` it sends is a list of token vectors instead of a vector. Worse, in
a request with several inputs the token vectors of every input after the first are read
at the wrong offsets (llama-cpp-python 0.3's ``Llama.embed`` with pooling "none"
advances by tokens, not tokens times ``n_embd``), so they are not the model's. Hence:

- :func:`mean_pool` makes one vector of token vectors as llama.cpp's mean pooling does
  (and so as the embedded backend does): their mean, then L2-normalised as OpenAI's
  vectors are;
- :func:`embedding_flow` is the I/O-free plan of an ``/embeddings`` call: it yields the
  bodies to send and receives the decoded answers (a sync and an async driver in
  ``_server`` do the HTTP). An answer of token vectors to a request of several inputs is
  asked again one input per request; a model found to answer per token gets one input
  per request from then on (``one_by_one``).

Servers that pool (llama.cpp's ``llama-server``, whose default is mean or the file's
pooling, vLLM, Ollama) send one vector per text, which is passed on unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["EmbeddingFlow", "arun_flow", "embedding_flow", "mean_pool", "per_token", "run_flow"]

Part = tuple[int, dict[str, Any]]
#: yields a request body, receives its decoded answer, returns ``(parts, per_token)``:
#: ``(number of inputs, answer)`` per request, in input order, for ``join_embeddings``,
#: and whether the server answered with token vectors.
EmbeddingFlow = Generator[dict[str, Any], Mapping[str, Any], tuple[list[Part], bool]]


def per_token(answer: Mapping[str, Any]) -> bool:
    """True when an ``/embeddings`` answer holds lists of token vectors (each
    ``embedding`` a list of lists) instead of one vector per input."""
    for item in answer.get("data") or ():
        vec = item.get("embedding") if isinstance(item, Mapping) else None
        if isinstance(vec, list) and vec and isinstance(vec[0], list):
            return True
    return False


def mean_pool(token_vectors: Sequence[Sequence[float]]) -> list[float]:
    """The mean of ``token_vectors`` (each ``n_embd`` floats), L2-normalised; a zero
    mean stays zero."""
    mean = np.asarray(token_vectors, dtype=np.float64).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else mean).tolist()  # type: ignore[no-any-return]


def _pooled(answer: Mapping[str, Any]) -> dict[str, Any]:
    data = [
        {**item, "embedding": mean_pool(item["embedding"])}
        if item["embedding"] and isinstance(item["embedding"][0], list)
        else dict(item)
        for item in answer.get("data") or ()
    ]
    return {**answer, "data": data}


def _singles(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**body, "input": [text]} for text in body["input"]]


def embedding_flow(batches: Iterable[Part], *, one_by_one: bool) -> EmbeddingFlow:
    """The ``/embeddings`` requests for ``batches`` (``(number of inputs, body)``, as
    ``modelbus_openai``'s batching makes them), with token vectors pooled (see the
    module docstring). ``one_by_one`` sends one input per request from the start."""
    parts: list[Part] = []
    seen = False
    for n, body in batches:
        for sent in _singles(body) if one_by_one and n > 1 else [body]:
            answer = yield sent
            if not per_token(answer):
                parts.append((len(sent["input"]), dict(answer)))
                continue
            seen = True
            if len(sent["input"]) == 1:
                parts.append((1, _pooled(answer)))
                continue
            # past the first input the server's token vectors are not the model's: ask
            # again, one input per request
            for single in _singles(sent):
                again = yield single
                parts.append((1, _pooled(again)))
    return parts, seen


def run_flow(
    flow: EmbeddingFlow, post: Callable[[dict[str, Any]], Mapping[str, Any]]
) -> tuple[list[Part], bool]:
    """Drive ``flow``, sending each body with ``post`` (body → decoded answer)."""
    try:
        body = next(flow)
        while True:
            body = flow.send(post(body))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def arun_flow(
    flow: EmbeddingFlow, post: Callable[[dict[str, Any]], Awaitable[Mapping[str, Any]]]
) -> tuple[list[Part], bool]:
    """The async twin of :func:`run_flow`."""
    try:
        body = next(flow)
        while True:
            body = flow.send(await post(body))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
