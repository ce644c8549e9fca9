"""A test-owned HTTP origin on loopback that counts what reaches it.

Routes map a path to (status, body, headers, delay). Every accepted TCP connection and
every request is counted, so a test can prove that a refused fetch never connected.
"""
import http.server
import socket
import socketserver
import threading
import time


class Origin:
    def __init__(self, host: str = "127.0.0.1"):
        self.routes: dict[str, tuple] = {}
        self.requests: list[tuple[str, dict]] = []
        self.connections = 0
        self.lock = threading.Lock()
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                with origin.lock:
                    origin.requests.append((self.path, dict(self.headers)))
                    route = origin.routes.get(self.path)
                if route is None:
                    status, body, headers, delay = 404, b"not found", {}, 0
                else:
                    status, body, headers, delay = route
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if callable(body):
                    # A generated body: (length, chunks), never held whole in memory.
                    length, chunks = body()
                    self.send_header("Content-Length", str(length))
                    self.end_headers()
                    try:
                        for chunk in chunks:
                            self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 256

            def get_request(self):
                conn, addr = super().get_request()
                with origin.lock:
                    origin.connections += 1
                return conn, addr

        self.server = Server((host, 0), Handler)
        self.host = host
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serve(self, path: str, body, status: int = 200, headers: dict | None = None, delay: float = 0):
        with self.lock:
            self.routes[path] = (status, body, headers or {}, delay)

    def hits(self, path: str) -> int:
        with self.lock:
            return sum(1 for p, _ in self.requests if p == path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
