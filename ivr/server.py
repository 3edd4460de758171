"""The FastAGI server: one thread per call, dispatching on the AGI script name.

Asterisk opens a TCP connection for every AGI() and sends the agi_* header; the script
in `agi_network_script` (e.g. "ivr?mode=basic") picks the handler. A handler that fails
sends the call to the operator fallback; a connection that sends no complete header in
time is closed; stop() lets live calls finish within a grace period.
"""
from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping
from urllib.parse import parse_qs, urlsplit

from ivr.agi import AGIProtocolError, CallerGone, HeaderError, HotlineAGI, SocketLines, read_header

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgiRequest:
    script: str
    args: dict[str, list[str]]
    env: dict[str, str]
    stopping: threading.Event = field(repr=False, compare=False, default_factory=threading.Event)


Handler = Callable[[HotlineAGI, AgiRequest], None]


def parse_script(env: Mapping[str, str]) -> tuple[str, dict[str, list[str]]]:
    """("ivr", {"mode": ["basic"]}) from agi_network_script, or from agi_request's path."""
    raw = env.get("agi_network_script")
    if not raw:
        request = urlsplit(env.get("agi_request", ""))
        raw = request.path + ("?" + request.query if request.query else "")
    parts = urlsplit("/" + raw.lstrip("/"))
    return parts.path.strip("/"), parse_qs(parts.query)


class FastAGIServer:
    def __init__(
        self,
        handlers: Mapping[str, Handler],
        fallback_variables: Mapping[str, str],
        host: str = "127.0.0.1",
        port: int = 4573,
        *,
        header_timeout: float = 5.0,
        command_timeout: float = 300.0,
        backlog: int = 1024,
        max_connections: int = 2000,
    ):
        self.handlers = dict(handlers)
        self.fallback_variables = dict(fallback_variables)
        self.header_timeout = header_timeout
        self.command_timeout = command_timeout
        self.max_connections = max_connections
        self.stopping = threading.Event()
        self._live: dict[int, socket.socket] = {}
        self._live_lock = threading.Lock()
        self._idle = threading.Condition(self._live_lock)
        self._listener = socket.create_server((host, port), backlog=backlog, reuse_port=False)
        self._listener.settimeout(0.2)
        self._accept_thread: threading.Thread | None = None
        self.finished = 0  # connections served to the end, for monitoring and tests
        # Run once every call has ended (e.g. write what the call log still holds).
        self.on_stopped: list[Callable[[], None]] = []

    @property
    def address(self) -> tuple[str, int]:
        return self._listener.getsockname()[:2]

    def wait_finished(self, count: int, timeout: float) -> bool:
        """Block until `count` connections in all have been served (tests, monitoring)."""
        with self._idle:
            return self._idle.wait_for(lambda: self.finished >= count, timeout)

    @property
    def live_calls(self) -> int:
        with self._live_lock:
            return len(self._live)

    def start(self) -> "FastAGIServer":
        self._accept_thread = threading.Thread(target=self._accept_loop, name="fastagi-accept", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self, grace: float = 30.0) -> int:
        """Stop accepting; wait up to `grace` s for live calls; cut the rest. Returns how many were cut."""
        self.stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join()
        self._listener.close()
        deadline = time.monotonic() + grace
        with self._idle:
            while self._live and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())
            remaining = list(self._live.values())
        for sock in remaining:
            # The handler reads EOF, records the session and releases its thread.
            _shutdown(sock)
        with self._idle:
            self._idle.wait_for(lambda: not self._live, timeout=5.0)
        if remaining:
            log.warning("cut %d calls still in the IVR after %.0f s", len(remaining), grace)
        for callback in self.on_stopped:
            callback()
        return len(remaining)

    # accepting -----------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, peer = self._listener.accept()
            except socket.timeout:
                continue
            except OSError as exc:
                if self.stopping.is_set():
                    return
                log.error("accept failed: %s", exc)
                time.sleep(0.05)
                continue
            if self.live_calls >= self.max_connections:
                # Closing at once lets Asterisk's dialplan fall back to the operator queue.
                log.error("refusing a FastAGI connection from %s: %d calls already live", peer, self.max_connections)
                sock.close()
                with self._idle:
                    self.finished += 1
                continue
            thread = threading.Thread(target=self._serve, args=(sock, peer), name=f"agi-{peer[1]}", daemon=True)
            with self._live_lock:
                self._live[id(sock)] = sock
            thread.start()

    # one connection ------------------------------------------------------------------------

    def _serve(self, sock: socket.socket, peer) -> None:
        try:
            lines = SocketLines(sock, self.command_timeout)
            try:
                env = read_header(lines, self.header_timeout)
            except (HeaderError, AGIProtocolError, OSError) as exc:
                log.info("closing FastAGI connection from %s:%s without a call: %s", peer[0], peer[1], exc or "header timeout")
                return
            self._dispatch(HotlineAGI(lines, env), env)
        finally:
            _shutdown(sock)
            sock.close()
            with self._idle:
                self._live.pop(id(sock), None)
                self.finished += 1
                self._idle.notify_all()

    def _dispatch(self, agi: HotlineAGI, env: dict[str, str]) -> None:
        script, args = parse_script(env)
        handler = self.handlers.get(script)
        try:
            if handler is None:
                raise LookupError(f"no handler for AGI script {script!r}; known: {', '.join(sorted(self.handlers))}")
            handler(agi, AgiRequest(script, args, env, self.stopping))
        except CallerGone as gone:
            log.debug("caller gone on %s: %s", env.get("agi_channel"), gone)
        except Exception:
            log.exception("AGI script %r failed on %s; sending the call to the operator", script, env.get("agi_channel"))
            self._send_to_fallback(agi)

    def _send_to_fallback(self, agi: HotlineAGI) -> None:
        try:
            for name, value in self.fallback_variables.items():
                agi.set_variable(name, value)
        except CallerGone:
            pass
        except Exception:
            # The dialplan's own fallback after AGI() still queues the caller.
            log.exception("could not set the fallback variables")


def tune_interpreter(switch_interval: float = 0.001) -> None:
    """For a process that serves calls: hand the GIL over sooner.

    CPython lets a busy thread (the call-log writer, a database call) keep the GIL for
    5 ms before others may run; with a thousand calls waiting on replies that becomes
    their latency. A 1 ms interval costs little CPU and keeps every call responsive.
    """
    sys.setswitchinterval(switch_interval)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
