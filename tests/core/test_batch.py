"""Batches: ``client.batch``/``abatch`` and ``modelbus batch`` (resumable, one line each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelbus._batch.files import batch_file, read_done
from modelbus._batch.runner import BatchInputError, BatchResult
from modelbus.errors import RetryError
from modelbus.testing import FakeProvider, make_client


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_thread_engine_stops_on_interrupt_and_resumes(tmp_path, fake_clock) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(
        "".join(json.dumps({"custom_id": f"c{i}", "messages": f"q {i}"}) + "\n" for i in range(100))
    )

    class Interrupting(FakeProvider):
        def chat(self, request):
            if self.calls == 40:
                self.requests.append(request)
                raise KeyboardInterrupt
            return super().chat(request)

    fp = Interrupting(clock=fake_clock)
    with make_client(fp, {"modelbus": {"cache": "none"}}, clock=fake_clock) as c:
        with pytest.raises(KeyboardInterrupt):
            batch_file(c, src, out, concurrency=4)
        partial = _lines(out)
        assert 40 <= len(partial) <= 43  # the 40 before, plus those already in flight
        summary = batch_file(c, src, out, concurrency=4)
    assert summary.skipped == len(partial) and summary.succeeded == 100 - len(partial)
    assert sorted(x["custom_id"] for x in _lines(out)) == sorted(f"c{i}" for i in range(100))


def test_lines_that_cannot_be_sent_get_their_own_error_line(tmp_path, fake_clock) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(
        "\n".join(
            [
                "{not json",
                json.dumps(
                    {
                        "custom_id": "emb",
                        "method": "POST",
                        "url": "/v1/embeddings",
                        "body": {"model": "m", "input": "x"},
                    }
                ),
                json.dumps({"custom_id": "nomsg", "body": {"model": "m"}}),
                json.dumps(
                    {
                        "custom_id": "stream",
                        "messages": [{"role": "user", "content": "x"}],
                        "stream": True,
                    }
                ),
                json.dumps(
                    {
                        "custom_id": "unknown",
                        "messages": [{"role": "user", "content": "x"}],
                        "temprature": 1,
                    }
                ),
                json.dumps({"custom_id": "good", "messages": [{"role": "user", "content": "x"}]}),
                "",
            ]
        )
        + "\n"
    )
    fp = FakeProvider(clock=fake_clock)
    with make_client(fp, {"modelbus": {"cache": "none"}}, clock=fake_clock) as c:
        summary = batch_file(c, src, out, concurrency=3)
    assert (summary.total, summary.succeeded, summary.failed) == (6, 1, 5)
    by_id = {x["custom_id"]: x for x in _lines(out)}
    assert set(by_id) == {"line-1", "emb", "nomsg", "stream", "unknown", "good"}
    assert "not JSON" in by_id["line-1"]["error"]["message"]
    assert "/v1/embeddings" in by_id["emb"]["error"]["message"]
    assert "messages" in by_id["nomsg"]["error"]["message"]
    assert "stream" in by_id["stream"]["error"]["message"]
    assert by_id["unknown"]["error"]["type"] == "TypeError"
    assert "temprature" in by_id["unknown"]["error"]["message"]
    assert by_id["good"]["error"] is None and fp.calls == 1


def test_client_batch_keeps_input_order(fake_provider, fake_clock) -> None:
    for i in range(30):
        if i % 7 == 3:
            fake_provider.enqueue_error(400, "bad")
        else:
            fake_provider.enqueue_text(f"t{i}")
    requests = [
        {"custom_id": f"c{i}", "messages": [{"role": "user", "content": f"q{i}"}]}
        for i in range(30)
    ]
    with make_client(fake_provider, {"modelbus": {"cache": "none"}}, clock=fake_clock) as c:
        results = c.batch(requests, concurrency=1)
    assert [r.custom_id for r in results] == [f"c{i}" for i in range(30)]
    assert [r.index for r in results] == list(range(30))
    failed = [r.custom_id for r in results if not r.ok]
    assert failed == [f"c{i}" for i in range(30) if i % 7 == 3]
    assert results[0].response is not None and results[0].response.content == "t0"


def test_client_batch_with_threads_and_progress(fake_provider, fake_clock) -> None:
    with make_client(fake_provider, {"modelbus": {"cache": "none"}}, clock=fake_clock) as c:
        results = c.batch([f"prompt {i}" for i in range(200)], concurrency=8, progress=True)
    assert [r.response.content for r in results] == [f"echo: prompt {i}" for i in range(200)]
    assert fake_provider.calls == 200


async def test_client_abatch_retries_and_reports_attempts(fake_provider, fake_clock) -> None:
    fake_provider.enqueue_error(503).enqueue_error(503).enqueue_error(503)
    async with make_client(fake_provider, {"modelbus": {"cache": "none"}}, clock=fake_clock) as c:
        results = await c.abatch(["only one", "then two"], concurrency=1)
    first, second = results
    assert isinstance(first.error, RetryError) and second.ok
    line = first.to_openai()
    assert [a["error_type"] for a in line["error"]["attempts"]] == ["ServerError"] * 3
    assert [a["delay_s"] for a in line["error"]["attempts"]][:2] == fake_clock.sleeps


def test_client_batch_rejects_duplicate_ids_and_bad_types(modelbus_client) -> None:
    with pytest.raises(BatchInputError, match="'x'"):
        modelbus_client.batch(
            [{"custom_id": "x", "messages": "a"}, {"custom_id": "x", "messages": "b"}]
        )
    with pytest.raises(TypeError, match="batch request 0"):
        modelbus_client.batch([42])
    with pytest.raises(ValueError, match="concurrency"):
        modelbus_client.batch(["a"], concurrency=0)


def test_success_line_matches_the_openai_batch_output_shape(wire, modelbus_client) -> None:
    (result,) = modelbus_client.batch([{"custom_id": "request-1", "messages": "hello"}])
    line = result.to_openai()
    assert set(line) == {"id", "custom_id", "response", "error"}
    assert set(line["response"]) == {"status_code", "body"}
    # The recorded vLLM batch output (same per-line keys) parses like ours.
    recorded = wire / "vllm" / "batch_results_chat_completions_docs_2024.jsonl"
    first = json.loads(recorded.read_text().splitlines()[0])
    assert set(first) == set(line)
    ours, theirs = line["response"]["body"], first["response"]
    assert {"id", "object", "created", "model", "choices", "usage"} <= set(ours) & set(theirs)


def test_resume_reads_recorded_batch_output(wire, tmp_path) -> None:
    copy = tmp_path / "out.jsonl"
    copy.write_bytes(
        (wire / "vllm" / "batch_results_chat_completions_docs_2024.jsonl").read_bytes()
    )
    assert read_done(copy) == {"request-1", "request-2"}


def test_batch_result_is_a_response_or_an_error() -> None:
    r = BatchResult(0, "a", error=ValueError("x"))
    assert not r.ok and r.to_openai()["response"] is None
    assert r.to_openai()["error"]["type"] == "ValueError"


def test_a_line_nested_deeper_than_the_decoder_goes_is_an_error_line(tmp_path, fake_clock) -> None:
    # batch.md: "a malformed input line becomes an error line, not a crash". json.loads
    # raises RecursionError, not ValueError, past ~1,000 levels: that line alone fails.
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    good = [json.dumps({"custom_id": f"c{i}", "messages": f"q {i}"}) for i in range(3)]
    src.write_text("\n".join([good[0], "[" * 100_000, good[1], '{"a": ' * 50_000, good[2]]) + "\n")
    fp = FakeProvider(clock=fake_clock)
    with make_client(fp, {"modelbus": {"cache": "none"}}, clock=fake_clock) as c:
        summary = batch_file(c, src, out, concurrency=3)
        assert (summary.total, summary.succeeded, summary.failed) == (5, 3, 2)
        by_id = {x["custom_id"]: x for x in _lines(out)}
        assert set(by_id) == {"c0", "c1", "c2", "line-2", "line-4"}
        assert "not JSON" in by_id["line-2"]["error"]["message"]
        assert "not JSON" in by_id["line-4"]["error"]["message"]
        assert fp.calls == 3
        # a resumed run finds every line done and sends nothing
        assert batch_file(c, src, out, concurrency=3).skipped == 5 and fp.calls == 3


def test_a_line_that_is_not_utf8_is_an_error_line(tmp_path, fake_clock) -> None:
    # batch.md: "a malformed input line becomes an error line, not a crash". A line of
    # Latin-1 bytes ended the whole run with a UnicodeDecodeError traceback.
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    good = [json.dumps({"custom_id": f"c{i}", "messages": f"q {i}"}).encode() for i in range(2)]
    src.write_bytes(b"\n".join([good[0], b'{"messages": "caf\xe9"}', good[1]]) + b"\n")
    fp = FakeProvider(clock=fake_clock)
    with make_client(fp, {"modelbus": {"cache": "none"}}, clock=fake_clock) as c:
        summary = batch_file(c, src, out, concurrency=2)
        assert (summary.total, summary.succeeded, summary.failed) == (3, 2, 1)
        by_id = {x["custom_id"]: x for x in _lines(out)}
        assert "line 2 is not UTF-8 text (byte 17)" in by_id["line-2"]["error"]["message"]
        assert fp.calls == 2


def test_a_file_without_line_ends_is_refused_at_the_line_cap(tmp_path, fake_clock, monkeypatch):
    # `modelbus batch /dev/zero` read one endless line into memory: a line past
    # MAX_LINE_BYTES (256 MiB; here 1 KiB) refuses the file as not JSONL, before any call.
    from modelbus._batch import files
    from modelbus._batch.runner import BatchInputError

    monkeypatch.setattr(files, "MAX_LINE_BYTES", 1024)
    src = tmp_path / "in.jsonl"
    src.write_bytes(json.dumps({"messages": "q"}).encode() + b"\n" + b"\0" * 5000)
    fp = FakeProvider(clock=fake_clock)
    with (
        make_client(fp, {"modelbus": {"cache": "none"}}, clock=fake_clock) as c,
        pytest.raises(BatchInputError, match="line 2 is longer than 1024 bytes"),
    ):
        batch_file(c, src, tmp_path / "out.jsonl")
    assert fp.calls == 0
