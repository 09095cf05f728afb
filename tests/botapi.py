"""A small stand-in for the Telegram Bot API on 127.0.0.1, for testing the real bot.

It speaks the HTTP side of the methods python-telegram-bot calls (getMe, getUpdates with long
polling, sendMessage, sendPhoto, sendDocument, answerCallbackQuery, editMessageText,
setMyCommands, setWebhook, deleteWebhook, getWebhookInfo). Tests inject updates as a given user
(`message`, `callback`) and read what the bot sent (`calls`, `wait_for`). Stdlib only: an
http.server in a thread, so it needs nothing beyond what the bot itself needs.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

BOT_ID = 900000001
RAW_FIELDS = {"text", "caption", "callback_query_id", "url", "secret_token", "filename", "parse_mode"}


@dataclass
class Call:
    method: str
    params: dict
    files: dict = field(default_factory=dict)  # part name -> (filename, bytes)
    message_id: int | None = None

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")


def _decode(name: str, value: str):
    if name in RAW_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class BotAPIServer:
    def __init__(self, token: str = "123456789:TEST-shopper-token"):
        self.token = token
        self._cond = threading.Condition()
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._callback_ids = itertools.count(1)
        self.calls: list[Call] = []
        self.webhook: dict = {}
        self.down = False  # True: answer every send with 502, as when Telegram cannot be reached
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._closing = False

    # --- lifecycle ---
    def start(self) -> "BotAPIServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                owner._handle(self)

            do_GET = do_POST

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="botapi", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing = True
        with self._cond:
            self._cond.notify_all()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def reset(self) -> None:
        with self._cond:
            self._updates.clear()
            self.calls.clear()
            self.webhook = {}
            self.down = False

    # --- what tests do ---
    def _push_update(self, update: dict) -> dict:
        with self._cond:
            update["update_id"] = next(self._update_ids)
            self._updates.append(update)
            self._cond.notify_all()
        return update

    @staticmethod
    def user(user_id: int, username: str | None = None) -> dict:
        return {"id": user_id, "is_bot": False, "first_name": username or f"user{user_id}",
                "username": username or f"user{user_id}", "language_code": "zh"}

    def message_update(self, user_id: int, text: str, *, reply_to: int | None = None) -> dict:
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private"},
            "from": self.user(user_id),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]
        if reply_to is not None:
            message["reply_to_message"] = {"message_id": reply_to, "date": int(time.time()),
                                           "chat": {"id": user_id, "type": "private"}, "from": self._me()}
        return {"message": message}

    def message(self, user_id: int, text: str, *, reply_to: int | None = None) -> dict:
        """A user writes `text` to the bot."""
        return self._push_update(self.message_update(user_id, text, reply_to=reply_to))

    def callback(self, user_id: int, data: str, *, message_id: int | None = None) -> dict:
        """A user presses an inline button carrying `data` (under the bot's message `message_id`)."""
        return self._push_update({"callback_query": {
            "id": str(next(self._callback_ids)),
            "from": self.user(user_id),
            "chat_instance": f"ci{user_id}",
            "data": data,
            "message": {"message_id": message_id or next(self._message_ids), "date": int(time.time()),
                        "chat": {"id": user_id, "type": "private"}, "from": self._me(), "text": "…"},
        }})

    def sent(self, method: str | None = None, chat_id: int | None = None, since: int = 0) -> list[Call]:
        with self._cond:
            calls = list(self.calls[since:])
        return [c for c in calls if (method is None or c.method == method) and (chat_id is None or c.chat_id == chat_id)]

    def mark(self) -> int:
        with self._cond:
            return len(self.calls)

    async def wait_for(self, method: str | tuple = ("sendMessage",), chat_id: int | None = None, *, since: int = 0,
                       contains: str | None = None, timeout: float = 5.0) -> Call:
        """The first call (after `since`) of `method` to `chat_id` whose text contains `contains`."""
        methods = (method,) if isinstance(method, str) else method
        deadline = time.monotonic() + timeout
        while True:
            for call in self.sent(None, chat_id, since):
                if call.method in methods and (contains is None or contains in call.text):
                    return call
            if time.monotonic() > deadline:
                seen = [(c.method, c.chat_id, c.text[:60]) for c in self.sent(since=since)]
                raise AssertionError(f"no {methods} to {chat_id} containing {contains!r} within {timeout}s; saw {seen}")
            await asyncio.sleep(0.02)

    async def settle(self, quiet: float = 0.3) -> None:
        """Wait until the bot has fetched every injected update and been quiet for `quiet` s."""
        last = -1
        while True:
            with self._cond:
                count, pending = len(self.calls), bool(self._updates)
            if count == last and not pending:
                return
            last = count
            await asyncio.sleep(quiet)

    # --- the HTTP side ---
    def _me(self) -> dict:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Shopper", "username": "shopper_test_bot"}

    def _reply(self, handler, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the bot stopped polling meanwhile
            pass

    def _parse(self, handler) -> tuple[dict, dict]:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        ctype = handler.headers.get("Content-Type", "")
        params, files = {}, {}
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {ctype}\r\n\r\n".encode() + body)
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                filename = part.get_filename()
                payload = part.get_payload(decode=True) or b""
                if filename:
                    files[name] = (filename, payload)
                else:
                    params[name] = _decode(name, payload.decode("utf-8"))
        elif body:
            if ctype.startswith("application/json"):
                params = json.loads(body)
            else:
                params = {k: _decode(k, v) for k, v in parse_qsl(body.decode("utf-8"), keep_blank_values=True)}
        return params, files

    def _message(self, chat_id, **extra) -> dict:
        return {"message_id": next(self._message_ids), "date": int(time.time()),
                "chat": {"id": int(chat_id), "type": "private"}, "from": self._me(), **extra}

    def _handle(self, handler) -> None:
        path = urlsplit(handler.path).path
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            self._reply(handler, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        method = path[len(prefix):]
        params, files = self._parse(handler)
        if method == "getUpdates":
            self._reply(handler, 200, {"ok": True, "result": self._get_updates(params)})
            return
        call = Call(method, params, files)
        if self.down and method.startswith(("send", "edit")):
            self._reply(handler, 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
            return
        result = self._result(call)
        if result is None:
            self._reply(handler, 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"})
            return
        with self._cond:
            self.calls.append(call)
        self._reply(handler, 200, {"ok": True, "result": result})

    def _get_updates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if self._updates or self._closing:
                    return list(self._updates)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(min(remaining, 0.5))

    def _result(self, call: Call):
        m, p = call.method, call.params
        if m == "getMe":
            return self._me()
        if m in ("deleteWebhook", "setMyCommands", "answerCallbackQuery", "close", "logOut"):
            if m == "deleteWebhook":
                self.webhook = {}
            return True
        if m == "setWebhook":
            self.webhook = {"url": p.get("url", ""), "secret_token": p.get("secret_token")}
            return True
        if m == "getWebhookInfo":
            return {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}
        if m == "sendMessage":
            msg = self._message(p["chat_id"], text=p.get("text", ""))
            if "reply_markup" in p:
                msg["reply_markup"] = p["reply_markup"]
        elif m == "sendPhoto":
            msg = self._message(p["chat_id"], caption=p.get("caption", ""),
                                photo=[{"file_id": f"photo{len(self.calls)}", "file_unique_id": f"u{len(self.calls)}",
                                        "width": 100, "height": 40}])
        elif m == "sendDocument":
            filename = next(iter(call.files.values()), ("doc", b""))[0]
            msg = self._message(p["chat_id"], caption=p.get("caption", ""),
                                document={"file_id": f"doc{len(self.calls)}", "file_unique_id": f"d{len(self.calls)}",
                                          "file_name": filename})
        elif m == "editMessageText":
            msg = self._message(p.get("chat_id", 0), text=p.get("text", ""))
            msg["message_id"] = int(p.get("message_id") or msg["message_id"])
        else:
            return None
        call.message_id = msg["message_id"]
        return msg
