"""A Bot API emulator on loopback, for the Telegram blob backend's tests.

It keeps to the documented contract of the methods imgd uses: `sendDocument` (multipart,
with `chat_id` and `document`), `getFile`, file downloads at `/file/bot<token>/<path>`,
`deleteMessage` and `getMe`, with the cloud API's limits (uploads up to 50 MB, downloads
up to 20 MB) and its error envelope (`ok: false`, `error_code`, `description`,
`parameters.retry_after` on 429). Tests inject 429s, 5xx errors, stalls and outages
through its attributes, and read what it stored and served. Test code only: imgd's
backend is never told it is talking to an emulator.
"""
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPLOAD_LIMIT = 50 * 1000 * 1000
DOWNLOAD_LIMIT = 20 * 1000 * 1000


class BotApi:
    def __init__(self, token: str, chat_id: str):
        self.token = token
        self.chat_id = chat_id
        self.lock = threading.Lock()
        self.messages: dict[int, dict] = {}  # message_id -> {file_id, data}
        self.files: dict[str, bytes] = {}  # file_id -> bytes
        self.next_message = 1
        self.calls: dict[str, int] = {}
        self.downloads: list[str] = []  # file_ids, in order
        self.deleted: list[int] = []
        self.send_attempts = 0
        # Injected trouble.
        self.rate_limit_next = 0
        self.retry_after = 1
        self.fail_next = 0  # 5xx answers to the next calls of any method
        self.stall_send = None  # (send number, seconds): that sendDocument and later ones hang
        self.down = False  # every request gets a 502 from "the proxy in front"
        self.undeletable: set[int] = set()
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                emulator._handle(self)

            def do_POST(self):
                emulator._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def stored(self) -> list[bytes]:
        with self.lock:
            return [m["data"] for _, m in sorted(self.messages.items())]

    # ---- the protocol ------------------------------------------------------------

    def _reply(self, h, status: int, payload, content_type="application/json"):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _error(self, h, code: int, description: str, **params):
        payload = {"ok": False, "error_code": code, "description": description}
        if params:
            payload["parameters"] = params
        self._reply(h, code, payload)

    def _handle(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(h.path)
        if self.down:
            return self._reply(h, 502, b"<html>502 Bad Gateway</html>", "text/html")
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return self._error(h, 500, "Internal Server Error")
        m = re.fullmatch(r"/file/bot([^/]+)/(.+)", path.path)
        if m:
            return self._download(h, m.group(1), m.group(2))
        m = re.fullmatch(r"/bot([^/]+)/(\w+)", path.path)
        if not m:
            return self._error(h, 404, "Not Found")
        token, method = m.groups()
        if token != self.token:
            return self._error(h, 401, "Unauthorized")
        with self.lock:
            self.calls[method] = self.calls.get(method, 0) + 1
        params = dict(urllib.parse.parse_qsl(path.query))
        ctype = h.headers.get("Content-Type", "")
        files = {}
        if ctype.startswith("multipart/form-data"):
            fields, files = parse_multipart(body, ctype)
            params.update(fields)
        elif ctype.startswith("application/x-www-form-urlencoded"):
            params.update(dict(urllib.parse.parse_qsl(body.decode())))
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._error(h, 404, "Not Found: method not found")
        return handler(h, params, files, length)

    def _m_getMe(self, h, params, files, length):
        self._reply(h, 200, {"ok": True, "result": {"id": 1, "is_bot": True, "username": "imgd_test_bot"}})

    def _m_sendDocument(self, h, params, files, length):
        with self.lock:
            self.send_attempts += 1
            attempt = self.send_attempts
            limited = self.rate_limit_next > 0
            if limited:
                self.rate_limit_next -= 1
        if self.stall_send and attempt >= self.stall_send[0]:
            time.sleep(self.stall_send[1])
        if limited:
            return self._error(h, 429, f"Too Many Requests: retry after {self.retry_after}",
                               retry_after=self.retry_after)
        if params.get("chat_id") != self.chat_id:
            return self._error(h, 400, "Bad Request: chat not found")
        if "document" not in files:
            return self._error(h, 400, "Bad Request: there is no document in the request")
        if length > UPLOAD_LIMIT:
            return self._error(h, 413, "Request Entity Too Large")
        data = files["document"]
        if not data:
            return self._error(h, 400, "Bad Request: file must be non-empty")
        with self.lock:
            message_id = self.next_message
            self.next_message += 1
            file_id = f"BQAC{message_id:08d}x"
            self.files[file_id] = data
            self.messages[message_id] = {"file_id": file_id, "data": data}
        self._reply(h, 200, {"ok": True, "result": {
            "message_id": message_id,
            "chat": {"id": -1001, "type": "channel"},
            "date": int(time.time()),
            "document": {"file_id": file_id, "file_unique_id": f"AgAD{message_id}", "file_size": len(data),
                         "file_name": "chunk"},
        }})

    def _m_getFile(self, h, params, files, length):
        data = self.files.get(params.get("file_id", ""))
        if data is None:
            return self._error(h, 400, "Bad Request: invalid file_id")
        if len(data) > DOWNLOAD_LIMIT:
            return self._error(h, 400, "Bad Request: file is too big")
        file_id = params["file_id"]
        self._reply(h, 200, {"ok": True, "result": {
            "file_id": file_id, "file_unique_id": "u" + file_id, "file_size": len(data),
            "file_path": f"documents/{file_id}.bin"}})

    def _download(self, h, token, file_path):
        if token != self.token:
            return self._error(h, 401, "Unauthorized")
        m = re.fullmatch(r"documents/(\w+)\.bin", file_path)
        data = self.files.get(m.group(1)) if m else None
        if data is None:
            return self._error(h, 404, "Not Found")
        with self.lock:
            self.downloads.append(m.group(1))
        self._reply(h, 200, data, "application/octet-stream")

    def _m_deleteMessage(self, h, params, files, length):
        message_id = int(params.get("message_id", "0"))
        with self.lock:
            if message_id in self.undeletable:
                return self._error(h, 400, "Bad Request: message can't be deleted")
            message = self.messages.pop(message_id, None)
            if message is None:
                return self._error(h, 400, "Bad Request: message to delete not found")
            self.files.pop(message["file_id"], None)
            self.deleted.append(message_id)
        self._reply(h, 200, {"ok": True, "result": True})


def parse_multipart(body: bytes, content_type: str) -> tuple[dict, dict]:
    """form-data fields and files of a multipart body."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type).group(1).encode()
    fields, files = {}, {}
    for part in body.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        content = content[:-2] if content.endswith(b"\r\n") else content
        disposition = next((line for line in head.decode().split("\r\n")
                            if line.lower().startswith("content-disposition")), "")
        name = re.search(r'name="([^"]*)"', disposition).group(1)
        if "filename=" in disposition:
            files[name] = content
        else:
            fields[name] = content.decode()
    return fields, files
