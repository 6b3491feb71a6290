"""A scripted model server for the real agent CLIs: Anthropic, OpenAI and Gemini APIs on 127.0.0.1.

The real Claude Code, Codex, Gemini CLI and Aider are pointed here (never at the network). Each
request is answered from the conversation it carries, not from server state, so a resumed thread
plays on where it stopped: the number of user prompts in the request is the turn, the number of tool
results since the last prompt is the step. A turn's script is a few tool calls that edit a file
(Claude Write/Read/Edit, Codex shell/apply_patch, Gemini write_file/replace, Aider a whole-file
block), then a final text. Every answer carries known usage numbers, logged with the request, so a
test can total what each turn really cost and compare ampsm's metrics with it.

`fail(status, times)` answers the next requests of the agent's main loop with 401, 429 (with
retry-after) or 500 in the API's own error shape.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FINAL_TEXT = "Done: {file} now says turn {turn}."
ERROR_TEXT = {
    401: "scripted: invalid api key",
    429: "scripted: rate limit reached, slow down",
    500: "scripted: internal server error",
}


@dataclass
class Logged:
    """One request and what it was answered with (usage is what the answer reported)."""

    api: str
    path: str
    body: dict[str, Any]
    status: int = 200
    turn: int = 0
    step: int = 0
    main: bool = True  # a turn of the agent's loop (tools offered), not a side query (title, count)
    usage: dict[str, int] = field(default_factory=dict)
    reply: str = ""  # "tool:NAME", "text" or "error"


@dataclass
class Failure:
    status: int
    times: int
    retry_after: int = 0


def usage_for(turn: int, step: int) -> dict[str, int]:
    """Distinct, known numbers per answer (all below 1000: Aider prints 1.2k for 1234)."""
    return {
        "input": 100 + 10 * turn + step,
        "output": 20 + turn + 3 * step,
        "cache_read": 40 + step,
        "cache_write": 8 + turn,
    }


class ScriptedModelServer:
    def __init__(self, file: str = "hello.txt") -> None:
        self.file = file
        self.log: list[Logged] = []
        self._failures: list[Failure] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # control ---------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> ScriptedModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def fail(self, status: int, times: int = 1000, retry_after: int = 0) -> None:
        with self._lock:
            self._failures = [Failure(status, times, retry_after)]

    def heal(self) -> None:
        with self._lock:
            self._failures = []

    def _take_failure(self) -> Failure | None:
        with self._lock:
            if not self._failures:
                return None
            f = self._failures[0]
            f.times -= 1
            if f.times <= 0:
                self._failures.pop(0)
            return f

    def main_requests(self, turn: int | None = None) -> list[Logged]:
        return [r for r in self.log if r.main and r.status == 200 and (turn is None or r.turn == turn)]

    def turn_usage(self, turn: int) -> dict[str, int]:
        """The four counters summed over the answers of one turn's loop."""
        total = {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0}
        for r in self.main_requests(turn):
            for k in total:
                total[k] += r.usage.get(k, 0)
        return total

    # the script --------------------------------------------------------------------------------------
    def step_of(self, prompts: int, tool_results: int) -> tuple[int, int]:
        return prompts, tool_results


def _handler(server: ScriptedModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path.endswith("/models") or "/models/" in path:
                self._json(200, {"data": [], "models": [], "object": "list"})
                return
            self._json(404, {"error": {"message": f"not scripted: GET {path}"}})

        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                raw = self._read_chunked()
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            path = self.path.split("?")[0]
            if path.endswith("/messages/count_tokens"):
                self._json(200, {"input_tokens": 10})
            elif path.endswith("/messages"):
                _anthropic(server, self, path, body)
            elif path.endswith("/responses"):
                _responses(server, self, path, body)
            elif path.endswith("/chat/completions"):
                _chat(server, self, path, body)
            elif ":streamGenerateContent" in path or ":generateContent" in path:
                _gemini(server, self, path, body)
            elif ":countTokens" in path:
                self._json(200, {"totalTokens": 10})
            else:
                server.log.append(Logged(api="unknown", path=path, body=body, status=404, main=False))
                self._json(404, {"error": {"message": f"not scripted: POST {path}"}})

        def _read_chunked(self) -> bytes:
            out = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()

        def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def sse(self, events: list[tuple[str | None, Any]]) -> None:
            chunks = []
            for name, data in events:
                head = f"event: {name}\n" if name else ""
                chunks.append(f"{head}data: {json.dumps(data)}\n\n")
            payload = "".join(chunks).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def error(self, entry: Logged, failure: Failure, shape: str) -> None:
            entry.status = failure.status
            entry.reply = "error"
            message = ERROR_TEXT.get(failure.status, f"scripted error {failure.status}")
            headers = {"retry-after": str(failure.retry_after)} if failure.status == 429 else {}
            if shape == "anthropic":
                kind = {401: "authentication_error", 429: "rate_limit_error"}.get(failure.status, "api_error")
                obj: Any = {"type": "error", "error": {"type": kind, "message": message}}
            elif shape == "gemini":
                st = {401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED"}.get(failure.status, "INTERNAL")
                obj = {"error": {"code": failure.status, "message": message, "status": st}}
            else:
                kind = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(failure.status, "server_error")
                obj = {"error": {"message": message, "type": kind, "code": kind, "param": None}}
            self._json(failure.status, obj, headers)

    return Handler


# --- Anthropic Messages ------------------------------------------------------------------------------


def _anthropic_position(messages: list[dict[str, Any]]) -> tuple[int, int]:
    """(turn, step): user prompts so far (1-based), tool results since the last prompt."""
    turn = step = 0
    for m in messages:
        if m.get("role") != "user":
            continue
        content = m.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        results = sum(1 for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result")
        if results:
            step += 1
        elif any(
            isinstance(b, dict) and b.get("type") == "text" and not str(b.get("text", "")).startswith("<")
            for b in blocks
        ):
            turn += 1
            step = 0
    return max(turn, 1), step


_CWD = re.compile(r"(?:Primary working directory|Working directory|cwd)\s*[:=]\s*(/[^\s\\\"'`]+)")


def _cwd_from(text: str) -> str | None:
    m = _CWD.search(text)
    return m.group(1).rstrip(".,`'\"") if m else None


def _anthropic(server: ScriptedModelServer, h: Any, path: str, body: dict[str, Any]) -> None:
    messages = body.get("messages") or []
    tools = [t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)]
    main = "Write" in tools and "Edit" in tools
    turn, step = _anthropic_position(messages)
    entry = Logged(api="anthropic", path=path, body=body, turn=turn, step=step, main=main)
    server.log.append(entry)
    if main and (failure := server._take_failure()):
        h.error(entry, failure, "anthropic")
        return
    model = str(body.get("model") or "claude-scripted")
    usage = usage_for(turn, step) if main else {"input": 5, "output": 1, "cache_read": 0, "cache_write": 0}
    entry.usage = usage
    system = json.dumps(body.get("system") or "")
    cwd = _cwd_from(system) or _cwd_from(json.dumps(messages)) or "."
    target = f"{cwd}/{server.file}"
    block: dict[str, Any]
    if not main:
        block = {"type": "text", "text": "Scripted title"}
    elif turn == 1 and step == 0:
        block = {"type": "tool_use", "name": "Write", "input": {"file_path": target, "content": "turn 1\n"}}
    elif turn > 1 and step == 0:
        block = {"type": "tool_use", "name": "Read", "input": {"file_path": target}}
    elif turn > 1 and step == 1:
        old, new = f"turn {turn - 1}", f"turn {turn}"
        block = {
            "type": "tool_use",
            "name": "Edit",
            "input": {"file_path": target, "old_string": old, "new_string": new},
        }
    else:
        block = {"type": "text", "text": FINAL_TEXT.format(file=server.file, turn=turn)}
    if block["type"] == "tool_use":
        block["id"] = f"toolu_{turn}_{step}_{len(server.log)}"
        entry.reply = f"tool:{block['name']}"
    else:
        entry.reply = "text"
    msg_id = f"msg_scripted_{len(server.log)}"
    u = {
        "input_tokens": usage["input"],
        "cache_creation_input_tokens": usage["cache_write"],
        "cache_read_input_tokens": usage["cache_read"],
        "output_tokens": usage["output"],
    }
    stop = "tool_use" if block["type"] == "tool_use" else "end_turn"
    if not body.get("stream"):
        h._json(
            200,
            {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [block],
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": u,
            },
        )
        return
    start_block = dict(block, input={}) if block["type"] == "tool_use" else {"type": "text", "text": ""}
    delta = (
        {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        if block["type"] == "tool_use"
        else {"type": "text_delta", "text": block["text"]}
    )
    start_usage = dict(u, output_tokens=1)
    h.sse(
        [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": msg_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                    },
                },
            ),
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": start_block}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": usage["output"]},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
    )


# --- OpenAI Responses (Codex) -----------------------------------------------------------------------------


def _responses_position(items: list[dict[str, Any]]) -> tuple[int, int]:
    turn = step = 0
    for item in items:
        kind = item.get("type")
        if kind in ("function_call_output", "custom_tool_call_output"):
            step += 1
        elif kind == "message" and item.get("role") == "user":
            text = json.dumps(item.get("content"))
            if "<environment_context>" in text or "<user_instructions>" in text or "# AGENTS.md" in text:
                continue
            turn += 1
            step = 0
    return max(turn, 1), step


def _patch(turn: int, file: str) -> str:
    return f"*** Begin Patch\n*** Update File: {file}\n@@\n-turn {turn - 1}\n+turn {turn}\n*** End Patch\n"


def _responses(server: ScriptedModelServer, h: Any, path: str, body: dict[str, Any]) -> None:
    items = [i for i in body.get("input") or [] if isinstance(i, dict)]
    tools = {str(t.get("name")): t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("name")}
    main = bool(tools)
    turn, step = _responses_position(items)
    entry = Logged(api="responses", path=path, body=body, turn=turn, step=step, main=main)
    server.log.append(entry)
    if main and (failure := server._take_failure()):
        h.error(entry, failure, "openai")
        return
    usage = usage_for(turn, step)
    entry.usage = usage
    n = len(server.log)
    item: dict[str, Any]
    if step == 0 and turn == 1:
        script = f"printf 'turn 1\\n' > {server.file}"
        if "shell" in tools:
            args: dict[str, Any] = {"command": ["bash", "-lc", script]}
            name = "shell"
        elif "shell_command" in tools:
            args, name = {"command": script}, "shell_command"
        else:
            args, name = {"cmd": script}, "exec_command"
        item = {
            "type": "function_call",
            "id": f"fc_{n}",
            "call_id": f"call_{n}",
            "name": name,
            "arguments": json.dumps(args),
            "status": "completed",
        }
    elif step == 0:
        patch = _patch(turn, server.file)
        spec = tools.get("apply_patch") or {}
        if spec.get("type") == "custom":
            item = {"type": "custom_tool_call", "id": f"ctc_{n}", "call_id": f"call_{n}", "name": "apply_patch",
                    "input": patch, "status": "completed"}  # fmt: skip
        elif spec:
            item = {"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}", "name": "apply_patch",
                    "arguments": json.dumps({"input": patch}), "status": "completed"}  # fmt: skip
        else:  # no apply_patch tool offered (unknown model): Codex intercepts it in its shell tool
            heredoc = f"apply_patch <<'EOF'\n{patch}EOF\n"
            args = {"command": ["apply_patch", patch]} if "shell" in tools else {"cmd": heredoc}
            name = "shell" if "shell" in tools else "exec_command"
            item = {"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}", "name": name,
                    "arguments": json.dumps(args), "status": "completed"}  # fmt: skip
    else:
        text = FINAL_TEXT.format(file=server.file, turn=turn)
        item = {
            "type": "message",
            "id": f"msg_{n}",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
    entry.reply = f"tool:{item['name']}" if "name" in item else "text"
    resp_id = f"resp_{n}"
    u = {
        "input_tokens": usage["input"] + usage["cache_read"],
        "input_tokens_details": {"cached_tokens": usage["cache_read"]},
        "output_tokens": usage["output"],
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage["input"] + usage["cache_read"] + usage["output"],
    }
    entry.usage = {
        "input": usage["input"],
        "output": usage["output"],
        "cache_read": usage["cache_read"],
        "cache_write": 0,
    }
    base = {"id": resp_id, "object": "response", "created_at": int(time.time()), "model": body.get("model")}
    events: list[tuple[str | None, Any]] = [
        ("response.created", {"type": "response.created", "response": dict(base, status="in_progress", output=[])}),
        ("response.output_item.added", {"type": "response.output_item.added", "output_index": 0, "item": item}),
    ]
    if item["type"] == "message":
        text = item["content"][0]["text"]
        delta = {"type": "response.output_text.delta", "item_id": item["id"], "output_index": 0}
        events.append(("response.output_text.delta", dict(delta, content_index=0, delta=text)))
    events += [
        ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}),
        (
            "response.completed",
            {"type": "response.completed", "response": dict(base, status="completed", output=[item], usage=u)},
        ),
    ]
    h.sse(events)


# --- OpenAI chat completions (Aider) --------------------------------------------------------------------


def _chat(server: ScriptedModelServer, h: Any, path: str, body: dict[str, Any]) -> None:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    # Aider sends its earlier chat (restored history) as user/assistant pairs before the new prompt.
    done = sum(1 for m in messages if m.get("role") == "assistant" and "Done: turn" in str(m.get("content")))
    users = [str(m.get("content")) for m in messages if m.get("role") == "user"]
    # Aider asks again, in the same turn, after adding a file the answer named to its chat
    again = bool(users) and users[-1].startswith("I added these files to the chat")
    turn, step = (max(done, 1), 1) if again else (done + 1, 0)
    entry = Logged(api="chat", path=path, body=body, turn=turn, step=step, main=True)
    server.log.append(entry)
    if failure := server._take_failure():
        h.error(entry, failure, "openai")
        return
    usage = usage_for(turn, step)
    entry.usage = {"input": usage["input"], "output": usage["output"], "cache_read": 0, "cache_write": 0}
    entry.reply = "text"
    # the final line names no file: Aider would offer to add a mentioned file and ask again
    text = f"{server.file}\n```\nturn {turn}\n```\n\nDone: turn {turn}."
    u = {"prompt_tokens": usage["input"], "completion_tokens": usage["output"],
         "total_tokens": usage["input"] + usage["output"]}  # fmt: skip
    obj = {
        "id": f"chatcmpl-{len(server.log)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": u,
    }
    if body.get("stream"):
        chunk = dict(obj, object="chat.completion.chunk")
        chunk["choices"] = [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
        h.sse([(None, chunk)])
        return
    h._json(200, obj)


# --- Gemini streamGenerateContent -----------------------------------------------------------------------


def _gemini_position(contents: list[dict[str, Any]]) -> tuple[int, int]:
    turn = step = 0
    for c in contents:
        if c.get("role") != "user":
            continue
        parts = c.get("parts") or []
        if any(isinstance(p, dict) and "functionResponse" in p for p in parts):
            step += 1
        else:
            texts = [str(p.get("text")) for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
            if not [t for t in texts if not t.lstrip().startswith("<session_context>")]:
                continue  # the CLI's context preamble, not a prompt
            turn += 1
            step = 0
    return max(turn, 1), step


def _gemini(server: ScriptedModelServer, h: Any, path: str, body: dict[str, Any]) -> None:
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    decls: list[str] = []
    for t in body.get("tools") or []:
        for d in (t or {}).get("functionDeclarations") or []:
            decls.append(str(d.get("name")))
    main = "write_file" in decls
    turn, step = _gemini_position(contents)
    entry = Logged(api="gemini", path=path, body=body, turn=turn, step=step, main=main)
    server.log.append(entry)
    if main and (failure := server._take_failure()):
        h.error(entry, failure, "gemini")
        return
    usage = usage_for(turn, step) if main else {"input": 5, "output": 1, "cache_read": 0, "cache_write": 0}
    entry.usage = dict(usage, cache_write=0)
    model = path.split("/models/")[-1].split(":")[0] if "/models/" in path else "gemini-scripted"
    cwd = _cwd_from(json.dumps(body.get("systemInstruction") or "")) or _cwd_from(json.dumps(contents)) or "."
    target = f"{cwd}/{server.file}"
    part: dict[str, Any]
    if not main:
        part = {"text": '{"reasoning": "scripted", "next_speaker": "user"}'}
    elif step == 0 and turn == 1:
        part = {"functionCall": {"name": "write_file", "args": {"file_path": target, "content": "turn 1\n"}}}
    elif step == 0:
        args = {"file_path": target, "old_string": f"turn {turn - 1}", "new_string": f"turn {turn}",
                "instruction": "bump the turn"}  # fmt: skip
        part = {"functionCall": {"name": "replace", "args": args}}
    else:
        part = {"text": FINAL_TEXT.format(file=server.file, turn=turn)}
    entry.reply = f"tool:{part['functionCall']['name']}" if "functionCall" in part else "text"
    meta = {
        "promptTokenCount": usage["input"] + usage["cache_read"],
        "cachedContentTokenCount": usage["cache_read"],
        "candidatesTokenCount": usage["output"],
        "totalTokenCount": usage["input"] + usage["cache_read"] + usage["output"],
    }
    chunk = {
        "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": meta,
        "modelVersion": model,
    }
    if ":streamGenerateContent" in path:
        h.sse([(None, chunk)])
    else:
        h._json(200, chunk)
