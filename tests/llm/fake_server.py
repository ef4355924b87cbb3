"""A local HTTP server on 127.0.0.1 that speaks Anthropic's Messages API and OpenAI's Chat
Completions API (JSON and server-sent-event streams, model lists, errors), so tests drive
the real SDK clients over a real socket.

``server.script`` is a list of what the next requests get, consumed in order: "ok" (the
default when the list is empty), "429", "500", "401" or "slow" (sleeps ``slow_seconds``
before answering). ``server.requests`` records each request (path, headers, JSON body).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORDS_PER_DELTA = 1


class FakeLLMServer:
    def __init__(self, reply: str = "Temperature controls randomness [1].") -> None:
        self.reply = reply
        self.script: list[str] = []
        self.requests: list[dict] = []
        self.slow_seconds = 2.0
        self.delta_delay = 0.0  # seconds between streamed pieces (a browser test watches them arrive)
        self.anthropic_model = "claude-fake-1"
        self.openai_model = "gpt-fake-1"
        handler = type("Handler", (_Handler,), {"fake": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> FakeLLMServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def next_action(self) -> str:
        return self.script.pop(0) if self.script else "ok"

    def pieces(self) -> list[str]:
        words = self.reply.split(" ")
        return [" ".join(words[i : i + WORDS_PER_DELTA]) + (" " if i + WORDS_PER_DELTA < len(words) else "")
                for i in range(0, len(words), WORDS_PER_DELTA)]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLLMServer

    def log_message(self, *args) -> None:  # quiet
        pass

    def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        headers = {k.lower(): v for k, v in self.headers.items()}
        entry = {"path": self.path, "method": self.command, "headers": headers, "body": body}
        self.fake.requests.append(entry)
        return entry

    def _fault(self, anthropic: bool) -> bool:
        action = self.fake.next_action()
        if action == "slow":
            time.sleep(self.fake.slow_seconds)
            return False
        if action in ("429", "500", "401"):
            status = int(action)
            if anthropic:
                kind = {429: "rate_limit_error", 500: "api_error", 401: "authentication_error"}[status]
                body = {"type": "error", "error": {"type": kind, "message": f"fake {status}"}}
            else:
                body = {"error": {"message": f"fake {status}", "type": "fake", "code": str(status)}}
            self._json(status, body, {"retry-after-ms": "10"} if status == 429 else None)
            return True
        return False

    def do_GET(self) -> None:
        self._record()
        if self.path.rstrip("/").endswith("/v1/models"):
            if "anthropic-version" in {k.lower() for k in self.headers}:
                data = [{"type": "model", "id": self.fake.anthropic_model, "display_name": "Fake",
                         "created_at": "2026-01-01T00:00:00Z"}]
                self._json(200, {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[0]["id"]})
            else:
                self._json(200, {"object": "list", "data": [
                    {"id": self.fake.openai_model, "object": "model", "created": 1, "owned_by": "fake"}]})
            return
        self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        entry = self._record()
        body = entry["body"]
        if self.path.endswith("/v1/messages"):
            if not self._fault(anthropic=True):
                self._anthropic(body)
        elif self.path.endswith("/chat/completions"):
            if not self._fault(anthropic=False):
                self._openai(body)
        else:
            self._json(404, {"error": {"message": "not found"}})

    def _sse_start(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()

    def _event(self, data: dict | str, event: str | None = None) -> None:
        payload = data if isinstance(data, str) else json.dumps(data)
        self.wfile.write(((f"event: {event}\n" if event else "") + f"data: {payload}\n\n").encode())
        self.wfile.flush()

    def _anthropic(self, body: dict) -> None:
        fake, usage_in = self.fake, 11 + len(json.dumps(body.get("messages", []))) // 4
        if not body.get("stream"):
            self._json(200, {
                "id": "msg_fake", "type": "message", "role": "assistant", "model": fake.anthropic_model,
                "content": [{"type": "text", "text": fake.reply}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": usage_in, "output_tokens": len(fake.reply.split())},
            })
            return
        self._sse_start()
        self._event({"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "content": [], "model": fake.anthropic_model,
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": usage_in, "output_tokens": 1}}},
            "message_start")
        self._event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                    "content_block_start")
        for piece in fake.pieces():
            self._event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                        "content_block_delta")
        self._event({"type": "content_block_stop", "index": 0}, "content_block_stop")
        self._event({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                     "usage": {"output_tokens": len(fake.reply.split())}}, "message_delta")
        self._event({"type": "message_stop"}, "message_stop")

    def _openai(self, body: dict) -> None:
        fake = self.fake
        usage = {"prompt_tokens": 9 + len(json.dumps(body.get("messages", []))) // 4,
                 "completion_tokens": len(fake.reply.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        base = {"id": "chatcmpl-fake", "created": 1, "model": fake.openai_model}
        if not body.get("stream"):
            self._json(200, {**base, "object": "chat.completion", "choices": [{
                "index": 0, "message": {"role": "assistant", "content": fake.reply}, "finish_reason": "stop"}],
                "usage": usage})
            return
        self._sse_start()
        chunk = {**base, "object": "chat.completion.chunk"}
        self._event({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                           "finish_reason": None}]})
        for piece in fake.pieces():
            time.sleep(fake.delta_delay)
            self._event({**chunk, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        self._event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event({**chunk, "choices": [], "usage": usage})
        self._event("[DONE]")
