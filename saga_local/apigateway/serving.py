"""The local API's HTTP side: a threaded server for the WSGI app, and API Gateway's throttle (a token bucket)."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from wsgiref.types import WSGIApplication

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class TokenBucket:
    """API Gateway's throttle: `rate` requests a second on average, in bursts of at most `burst`."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate, self._capacity, self._clock = rate, burst, clock
        self._tokens, self._last = float(burst), clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class _QuietRequestHandler(WSGIRequestHandler):
    """The access log already records each request; werkzeug's own line would repeat it."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class ServerHandle:
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.server_port}"

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(app: WSGIApplication, host: str = "127.0.0.1", port: int = 3000) -> ServerHandle:
    """Serve `app` from a thread, a thread per request (port 0: any free port, see `.url`)."""
    server = make_server(host, port, app, threaded=True, request_handler=_QuietRequestHandler)
    # A short poll: shutdown() waits for the loop to notice it (0.5 s by default).
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"apigateway:{server.server_port}",
        daemon=True,
    )
    thread.start()
    return ServerHandle(server, thread)
