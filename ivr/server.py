"""The FastAGI server: a call a greenlet on the call hub, dispatching on the script name.

Asterisk opens a TCP connection for every AGI() and sends the agi_* header; the script
in `agi_network_script` (e.g. "ivr?mode=basic") picks the handler. A handler that fails
sends the call to the operator fallback; a connection that sends no complete header in
time is closed; stop() lets live calls finish within a grace period.

Handlers run on the hub (ivr.hub): they must not block the thread, and do their
database work through `ivr.hub.blocking`.
"""
from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping
from urllib.parse import parse_qs, urlsplit

from ivr.agi import AGIProtocolError, CallerGone, HeaderError, HotlineAGI, SocketLines, read_header
from ivr.hub import CallHub

log = logging.getLogger(__name__)

# accept() failures that leave the connection waiting and the listener readable: out of
# file descriptors or kernel memory. Accepting again at once would spin.
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_PAUSE_FIRST = 0.01  # seconds without accepting after the first such failure
ACCEPT_PAUSE_MAX = 1.0  # the pause doubles while failures go on, up to this


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
        blocking_workers: int = 8,
    ):
        self.handlers = dict(handlers)
        self.fallback_variables = dict(fallback_variables)
        self.header_timeout = header_timeout
        self.command_timeout = command_timeout
        self.max_connections = max_connections
        self.stopping = threading.Event()
        self._live: dict[int, socket.socket] = {}  # changed on the hub thread only
        self._idle = threading.Condition()
        self._listener = socket.create_server((host, port), backlog=backlog, reuse_port=False)
        self._listener.setblocking(False)
        self._address = self._listener.getsockname()[:2]
        self.hub = CallHub(workers=blocking_workers, name="fastagi")
        self.finished = 0  # connections served to the end, for monitoring and tests
        # Out of descriptors: how long the next pause is, and when the shortage began
        # (None: accepting). Changed on the hub thread only.
        self._accept_pause = ACCEPT_PAUSE_FIRST
        self._short_since: float | None = None
        self._short_refusals = 0
        # Run as shutdown begins (e.g. a call-log writer that dies now is not replaced).
        self.on_stopping: list[Callable[[], None]] = []
        # Run once every call has ended (e.g. write what the call log still holds).
        self.on_stopped: list[Callable[[], None]] = []

    @property
    def address(self) -> tuple[str, int]:
        return self._address

    def wait_finished(self, count: int, timeout: float) -> bool:
        """Block until `count` connections in all have been served (tests, monitoring)."""
        with self._idle:
            return self._idle.wait_for(lambda: self.finished >= count, timeout)

    @property
    def live_calls(self) -> int:
        return len(self._live)

    def start(self) -> "FastAGIServer":
        self.hub.start(on_start=lambda: self.hub.watch(self._listener, self._accept_ready))
        return self

    def shutdown_begun(self) -> None:
        """Say that the process is shutting down, before stop() (which says it too): a signal
        to the whole process group also reaches the call-log writer's child."""
        for callback in self.on_stopping:
            callback()

    def stop(self, grace: float = 30.0) -> int:
        """Stop accepting; wait up to `grace` s for live calls; cut the rest. Returns how many were cut."""
        self.shutdown_begun()
        self.stopping.set()
        closed = threading.Event()
        self.hub.call_soon_threadsafe(lambda: (self._close_listener(), closed.set()))
        closed.wait(5.0)
        with self._idle:
            self._idle.wait_for(lambda: not self._live, timeout=grace)
            cut = len(self._live)
        if cut:
            # Each cut call reads EOF, records its session and ends.
            self.hub.call_soon_threadsafe(lambda: [_shutdown(sock) for sock in list(self._live.values())])
            with self._idle:
                self._idle.wait_for(lambda: not self._live, timeout=5.0)
            log.warning("cut %d calls still in the IVR after %.0f s", cut, grace)
        self.hub.stop()
        for callback in self.on_stopped:
            callback()
        return cut

    # accepting (on the hub) ---------------------------------------------------------------

    def _close_listener(self) -> None:
        self.hub.unwatch(self._listener)
        self._listener.close()

    def _accept_ready(self) -> None:
        # Take what is queued, but let the calls already live get their turn too: each new
        # call runs up to its first command here (header, language, greeting), a fifth
        # of a millisecond; the listener stays readable for the next pass.
        for _ in range(16):
            try:
                sock, peer = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause_accepting(exc)
                else:
                    log.error("accept failed: %s", exc)
                return
            if self._short_since is not None:
                log.warning("accepting FastAGI connections again after %.1f s short of resources (%d pauses)",
                            time.monotonic() - self._short_since, self._short_refusals)
                self._short_since, self._accept_pause, self._short_refusals = None, ACCEPT_PAUSE_FIRST, 0
            if self.stopping.is_set() or len(self._live) >= self.max_connections:
                # Closing at once lets Asterisk's dialplan fall back to the operator queue.
                log.error("refusing a FastAGI connection from %s: %s", peer,
                          "stopping" if self.stopping.is_set() else f"{self.max_connections} calls already live")
                sock.close()
                self._finish_one()
                continue
            self._live[id(sock)] = sock
            self.hub.spawn(self._serve, sock, peer)

    def _pause_accepting(self, exc: OSError) -> None:
        """Stop watching the listener for a while: it stays readable while the connection
        waits, so watching it now would spin. A call that ends frees a descriptor and
        resumes accepting at once; otherwise the pause doubles up to ACCEPT_PAUSE_MAX.
        Logged once a shortage, not once a try."""
        if self._short_since is None:
            self._short_since = time.monotonic()
            log.error("cannot accept FastAGI connections (%s) with %d calls live; waiting for a call to end. "
                      "Raise the open files limit (ulimit -n) or lower ivr.max_connections", exc, len(self._live))
        self._short_refusals += 1
        self.hub.unwatch(self._listener)
        self.hub.call_later(self._accept_pause, self._resume_accepting)
        self._accept_pause = min(self._accept_pause * 2, ACCEPT_PAUSE_MAX)

    def _resume_accepting(self) -> None:
        if self._short_since is None or self.stopping.is_set() or self._listener.fileno() < 0:
            return
        try:
            self.hub.watch(self._listener, self._accept_ready)
        except KeyError:
            pass  # already watched again (a call ended before the pause did)

    def _finish_one(self) -> None:
        with self._idle:
            self.finished += 1
            self._idle.notify_all()

    # one connection (a call greenlet) -----------------------------------------------------

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
            self.hub.forget(sock)
            sock.close()
            self._live.pop(id(sock), None)
            self._finish_one()
            if self._short_since is not None:
                self._resume_accepting()  # a descriptor is free now

    def _dispatch(self, agi: HotlineAGI, env: dict[str, str]) -> None:
        script, args = parse_script(env)
        handler = self.handlers.get(script)
        if handler is None:
            # A dialplan typo or a stranger probing the port: one line each, not a traceback.
            log.error("no handler for AGI script %r on %s; known: %s; sending the call to the operator",
                      script[:64], env.get("agi_channel"), ", ".join(sorted(self.handlers)))
            self._send_to_fallback(agi)
            return
        try:
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

    CPython lets a busy thread (the call-log writer, a database call on a hub worker)
    keep the GIL for 5 ms before another may run; while it does, the call hub and every
    call on it wait. A 1 ms interval costs little CPU and keeps every call responsive.
    """
    sys.setswitchinterval(switch_interval)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
