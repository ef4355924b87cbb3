"""The event parser: untrusted runner output in, well-formed events out."""

from __future__ import annotations

import json

import pytest

from apps.labs.sandbox.events import MAX_LINE_BYTES, MAX_LOG_LINE_CHARS, EventParser

pytestmark = pytest.mark.sandbox


def event_line(seq: int, type_: str, payload: dict) -> bytes:
    return json.dumps({"seq": seq, "type": type_, "payload": payload}).encode() + b"\n"


def feed_all(parser: EventParser, chunks: list[tuple[str, bytes]]):
    events = []
    for stream, data in chunks:
        events += parser.feed(stream, data)
    return events + parser.close()


def test_structured_events_are_parsed_and_renumbered():
    parser = EventParser(10_000)
    events = feed_all(
        parser,
        [
            (
                "stdout",
                event_line(1, "progress", {"fraction": 0.5})
                + event_line(2, "metric", {"name": "loss", "value": 1.5, "step": 3}),
            )
        ],
    )
    assert [(e.seq, e.type) for e in events] == [(1, "progress"), (2, "metric")]
    assert events[1].payload == {"name": "loss", "value": 1.5, "step": 3}


def test_anything_else_becomes_a_stdout_log_line():
    parser = EventParser(10_000)
    garbage = [
        b"plain text",
        b'{"seq": 1, "type": "progress"',  # partial JSON
        b'{"seq": 1, "type": "explode", "payload": {}}',  # unknown type
        b'{"seq": "1", "type": "log", "payload": {}}',  # seq not an int
        b'{"seq": true, "type": "log", "payload": {}}',  # bool is not an int
        b'{"seq": 1, "type": "metric", "payload": [1]}',  # payload not a dict
        b"[1, 2, 3]",
        b"\xff\xfe not utf-8 \xc3",
        b"nul\x00byte",
    ]
    events = feed_all(parser, [("stdout", b"\n".join(garbage) + b"\n")])
    assert [e.type for e in events] == ["log"] * len(garbage)
    assert all(e.payload["stream"] == "stdout" for e in events)
    assert events[0].payload["line"] == "plain text"
    assert "\ufffd" in events[7].payload["line"]  # replacement character, no crash


def test_stderr_is_always_log_even_if_it_looks_like_an_event():
    parser = EventParser(10_000)
    events = feed_all(parser, [("stderr", event_line(1, "result", {"status": "ok"}))])
    assert [(e.type, e.payload["stream"]) for e in events] == [("log", "stderr")]


def test_lines_split_across_chunks_and_unterminated_tail():
    parser = EventParser(10_000)
    line = event_line(1, "metric", {"name": "acc", "value": 0.9})
    chunks = [
        ("stdout", line[:5]),
        ("stderr", b"warn"),
        ("stdout", line[5:20]),
        ("stderr", b"ing\n"),
        ("stdout", line[20:] + b"no newline at end"),
    ]
    events = feed_all(parser, chunks)
    assert [e.type for e in events] == ["log", "metric", "log"]
    assert events[0].payload == {"stream": "stderr", "line": "warning"}
    assert events[2].payload["line"] == "no newline at end"


def test_seq_strictly_increases_and_runner_seq_kept_only_when_different():
    parser = EventParser(10_000)
    events = feed_all(
        parser,
        [
            (
                "stdout",
                event_line(1, "progress", {"fraction": 0.1})
                + event_line(1, "progress", {"fraction": 0.2})  # duplicate runner seq
                + b"noise\n"
                + event_line(0, "progress", {"fraction": 0.3}),
            )
        ],
    )  # decreasing
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)) == [1, 2, 3, 4]
    assert "runner_seq" not in events[0].payload
    assert events[1].payload["runner_seq"] == 1
    assert events[3].payload["runner_seq"] == 0


def test_very_long_line_is_cut_without_buffering_it_whole():
    parser = EventParser(10_000_000)
    huge = b"x" * (MAX_LINE_BYTES * 5)
    events = []
    for i in range(0, len(huge), 4096):
        events += parser.feed("stdout", huge[i : i + 4096])
        assert len(parser._buffers["stdout"].pending) <= MAX_LINE_BYTES
    events += parser.feed("stdout", b"\n" + event_line(7, "result", {"status": "ok"}))
    events += parser.close()
    assert [e.type for e in events] == ["log", "result"]
    assert len(events[0].payload["line"]) == MAX_LOG_LINE_CHARS
    assert parser.log_bytes == len(huge) + 1


def test_log_truncation_emits_one_notice_and_keeps_structured_events():
    parser = EventParser(1000)
    chunks = [("stdout", b"a" * 99 + b"\n") for _ in range(30)]
    chunks.append(("stdout", event_line(1, "log", {"line": "structured log, dropped too"})))
    chunks.append(("stderr", b"stderr dropped\n"))
    chunks.append(("stdout", event_line(2, "metric", {"name": "loss", "value": 1.0})))
    chunks.append(("stdout", event_line(3, "result", {"status": "ok"})))
    events = feed_all(parser, chunks)
    logs = [e for e in events if e.type == "log"]
    notices = [e for e in logs if e.payload.get("truncated")]
    assert len(notices) == 1
    assert "truncated at 1000 bytes" in notices[0].payload["line"]
    kept = [e for e in logs if e.payload["stream"] == "stdout"]
    assert len(kept) == 10 and sum(len(e.payload["line"]) + 1 for e in kept) <= 1000
    assert [e.type for e in events][-2:] == ["metric", "result"]
    assert parser.truncated and parser.log_bytes > 3000


def test_structured_log_payload_is_normalised():
    parser = EventParser(10_000)
    events = feed_all(parser, [("stdout", event_line(1, "log", {"line": "y" * 5000, "stream": 42}))])
    assert events[0].payload["stream"] == "42"
    assert len(events[0].payload["line"]) == MAX_LOG_LINE_CHARS
