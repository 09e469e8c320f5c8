"""The SSE decoder (``modelbus._wire.sse``) on the edge cases of WHATWG HTML §9.2.6 that the
whole-stream test does not isolate: a byte order mark split or absent, a CR held for its
LF, what an event without data resets, ``id`` with NUL, a non-numeric ``retry``, and
``pending`` through a cut stream."""

from __future__ import annotations

import json

import pytest

from modelbus._wire.sse import ServerSentEvent, SSEDecoder, aiter_sse, iter_sse

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 4])
def test_a_byte_order_mark_is_skipped_however_it_is_split(cut: int) -> None:
    body = BOM + b"data: x\n\n"
    dec = SSEDecoder()
    events = dec.feed(body[:cut]) + dec.feed(body[cut:])
    assert events == [ServerSentEvent(data="x")]


def test_only_a_leading_byte_order_mark_is_skipped() -> None:
    assert list(iter_sse([b"data: \xef\xbb\xbfx\n\n"])) == [ServerSentEvent(data="\ufeffx")]
    # A stream starting with bytes that only look like the start of a BOM.
    assert list(iter_sse([b"\xef", b"\xbbdata: y\n\n"])) == []
    assert list(iter_sse([b"d", b"ata: y\n\n"])) == [ServerSentEvent(data="y")]


def test_a_cr_at_the_end_of_a_chunk_waits_for_a_possible_lf() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    assert dec.pending
    assert dec.feed(b"\n\r\n") == [ServerSentEvent(data="a")]
    assert not dec.pending


def test_close_ends_a_held_cr_line_and_drops_an_unterminated_event() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n\r") == []
    assert dec.close() == [ServerSentEvent(data="a")]
    dec = SSEDecoder()
    dec.feed(b"data: cut")
    assert dec.close() == []
    assert dec.pending
    dec = SSEDecoder()
    dec.feed(b"event: x\n")
    assert dec.pending  # an event name alone is a started event
    assert SSEDecoder().close() == [] and not SSEDecoder().pending


def test_an_event_without_data_is_not_dispatched_but_resets_the_name() -> None:
    body = b"event: ping\n\ndata: after\n\n"
    assert list(iter_sse([body])) == [ServerSentEvent("message", "after")]


def test_id_and_retry_carry_over_and_bad_values_are_ignored() -> None:
    body = (
        b"id: 1\nretry: 250\ndata: a\n\n"
        b"id: 2\x00x\nretry: 1.5\ndata: b\n\n"
        b"id\nretry: \xd9\xa3\ndata: c\n\n"
    )
    assert list(iter_sse([body])) == [
        ServerSentEvent("message", "a", "1", 250),
        ServerSentEvent("message", "b", "1", 250),  # NUL in id, non-integer retry: ignored
        ServerSentEvent("message", "c", "", 250),  # "id" alone empties it; Arabic digit: no
    ]


def test_only_one_space_after_the_colon_is_removed_and_comments_are_skipped() -> None:
    body = b":comment\ndata:  two spaces\ndata:none\n: data: not data\n\n"
    (event,) = iter_sse([body])
    assert event.data == " two spaces\nnone"


def test_json_decodes_the_data_and_raises_on_text() -> None:
    assert ServerSentEvent(data='{"a": [1]}').json() == {"a": [1]}
    with pytest.raises(json.JSONDecodeError):
        ServerSentEvent(data="text").json()


def test_a_shared_decoder_reports_a_cut_stream() -> None:
    dec = SSEDecoder()
    assert list(iter_sse([b"data: a\n\ndata: b"], dec)) == [ServerSentEvent(data="a")]
    assert dec.pending


async def test_the_async_driver_flushes_a_final_cr_and_uses_the_given_decoder() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b"data: a\n"
        yield b"\r"

    dec = SSEDecoder()
    assert [e async for e in aiter_sse(chunks(), dec)] == [ServerSentEvent(data="a")]
    assert not dec.pending

    async def cut():  # type: ignore[no-untyped-def]
        yield b"data: a\n\ndata: b"

    dec = SSEDecoder()
    assert [e async for e in aiter_sse(cut(), dec)] == [ServerSentEvent(data="a")]
    assert dec.pending


def test_invalid_utf8_becomes_replacement_characters_in_feed_and_close() -> None:
    assert list(iter_sse([b"data: \xff\n\n"])) == [ServerSentEvent(data="\ufffd")]
    dec = SSEDecoder()
    assert dec.feed(b"data: \xfe\r") == []  # the CR is held: maybe half of a CRLF
    assert dec.close() == []  # the line ends, its event does not
    assert dec.pending


def test_a_stream_of_only_a_byte_order_mark_leaves_nothing_pending() -> None:
    dec = SSEDecoder()
    assert dec.feed(BOM) == [] and dec.close() == []
    assert not dec.pending
    dec = SSEDecoder()
    assert dec.feed(BOM[:2]) == [] and dec.pending  # maybe the start of a BOM: held


def test_an_event_defaults_to_a_message_without_data_id_or_retry() -> None:
    assert ServerSentEvent() == ServerSentEvent("message", "", None, None)
    assert ServerSentEvent().data == ""


def test_a_byte_order_mark_later_in_the_stream_is_data() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n") == []
    # "\ufeffdata" is an unknown field name: the line is ignored, the event ends.
    assert dec.feed(BOM + b"data: b\n\n") == [ServerSentEvent(data="a")]
    assert dec.feed(b"\xef\xbb") == []  # held only as part of a line, not as a BOM
    assert dec.feed(b"\n\n") == []


def test_close_dispatches_only_on_a_blank_final_line() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\nx\r") == []
    assert dec.close() == []  # "x" is a field line, not the blank line ending the event
    assert dec.pending
