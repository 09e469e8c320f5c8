"""The pooling of token vectors from ``/embeddings`` answers, as an I/O-free flow: the
bodies it asks to send and what it makes of the answers (the real server is in
test_smollm2.py)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from modelbus_local._pooling import EmbeddingFlow, embedding_flow, mean_pool, per_token


def answer(*vectors: Any, tokens: int = 3) -> dict[str, Any]:
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    return {"data": data, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def drive(flow: EmbeddingFlow, server: Any) -> tuple[list[list[str]], Any]:
    """Run ``flow`` against ``server(body) -> answer``; the inputs of each request sent
    and the flow's result."""
    sent: list[list[str]] = []
    try:
        body = next(flow)
        while True:
            sent.append(list(body["input"]))
            body = flow.send(server(body))
    except StopIteration as done:
        return sent, done.value


def test_mean_pool_is_the_normalised_mean():
    assert mean_pool([[3.0, 0.0], [3.0, 8.0]]) == pytest.approx([0.6, 0.8])
    assert mean_pool([[0.0, 0.0]]) == [0.0, 0.0]  # no division by zero


def test_per_token_tells_token_vectors_from_vectors():
    assert per_token(answer([[1.0, 0.0], [0.0, 1.0]]))
    assert not per_token(answer([1.0, 0.0], [0.0, 1.0]))
    assert not per_token({"data": []}) and not per_token({})


def test_pooled_answers_pass_unchanged_in_their_batches():
    batches = [(2, {"model": "m", "input": ["a", "b"]}), (1, {"model": "m", "input": ["c"]})]
    sent, (parts, token_vectors) = drive(
        embedding_flow(batches, one_by_one=False),
        lambda body: answer(*([1.0, 0.0] for _ in body["input"])),
    )
    assert sent == [["a", "b"], ["c"]] and not token_vectors
    assert [n for n, _ in parts] == [2, 1]
    assert parts[0][1]["data"][1]["embedding"] == [1.0, 0.0]


def test_token_vectors_of_several_inputs_are_asked_again_one_by_one():
    # the answer to ["a", "b"] holds token vectors: the second input's are unreliable
    def server(body: dict[str, Any]) -> dict[str, Any]:
        return answer(*([[2.0, 0.0], [0.0, 2.0]] for _ in body["input"]), tokens=2)

    batches = [(2, {"model": "m", "input": ["a", "b"]})]
    sent, (parts, token_vectors) = drive(embedding_flow(batches, one_by_one=False), server)
    assert sent == [["a", "b"], ["a"], ["b"]] and token_vectors
    assert [n for n, _ in parts] == [1, 1]  # the first, unreliable answer is dropped
    for _, data in parts:
        [item] = data["data"]
        assert item["embedding"] == pytest.approx([math.sqrt(0.5), math.sqrt(0.5)])
        assert data["usage"]["prompt_tokens"] == 2  # usage of the answers kept


def test_a_known_token_vector_model_is_sent_one_input_per_request():
    batches = [(3, {"model": "m", "input": ["a", "b", "c"]})]
    sent, (parts, token_vectors) = drive(
        embedding_flow(batches, one_by_one=True), lambda body: answer([[1.0, 1.0]])
    )
    assert sent == [["a"], ["b"], ["c"]] and token_vectors
    assert len(parts) == 3


def test_no_input_sends_nothing():
    sent, (parts, token_vectors) = drive(embedding_flow([], one_by_one=True), answer)
    assert (sent, parts, token_vectors) == ([], [], False)
