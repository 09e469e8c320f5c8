"""Embeddings requests in API-sized batches, and joining the answers in input order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from modelbus.errors import ServerError
from modelbus.plugin import (
    EmbeddingRequest,
    EmbeddingResponse,
    Usage,
    embedding_body,
    parse_embedding_response,
)

__all__ = ["embedding_batches", "join_embeddings"]


def embedding_batches(
    request: EmbeddingRequest, *, model: str, encoding: str | None, size: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(number of inputs, JSON body)`` per ``/embeddings`` request: ``size`` inputs at
    most each, in input order. ``model`` is the name sent (Azure: the deployment);
    ``encoding`` the ``encoding_format`` asked unless the request's ``extra_body`` sets
    one. An empty ``input`` gives no batch."""
    body = embedding_body(request)
    body["model"] = model
    if encoding is not None:
        body.setdefault("encoding_format", encoding)
    texts = request.input
    for start in range(0, len(texts), size):
        batch = texts[start : start + size]
        yield len(batch), {**body, "input": list(batch)}


def join_embeddings(
    provider: str, request: EmbeddingRequest, parts: Sequence[tuple[int, dict[str, Any]]]
) -> EmbeddingResponse:
    """One EmbeddingResponse from the decoded answers of the batches (in order): vectors
    concatenated (each answer sorted by ``index``), usage summed.

    Raises a retryable :class:`ServerError` when an answer holds a different number of
    vectors than its batch had inputs."""
    vectors: list[tuple[float, ...]] = []
    usage = Usage()
    model = ""
    for sent, data in parts:
        r = parse_embedding_response(data, provider)
        if len(r.vectors) != sent:
            raise ServerError(
                f"/embeddings returned {len(r.vectors)} vectors for {sent} inputs",
                provider=provider,
                body=data,
                hint="the server answered a different number of inputs (retryable)",
            )
        vectors.extend(r.vectors)
        usage = usage + r.usage
        model = r.model or model
    return EmbeddingResponse(
        model=model or request.model, vectors=tuple(vectors), usage=usage, provider=provider
    )
