"""The call hub: every live call of the FastAGI server on one thread, one greenlet a call.

Why not a thread a call: a call spends its life waiting for Asterisk's reply and then
does a few dozen microseconds of Python. With a thread per call, every reply is a thread
wake-up that must win the GIL from hundreds of others; at 1,000 live calls that hand-off
(futex storms, the 5 ms switch interval) costs more CPU than the IVR's own work and puts
seconds on the slowest replies. Here one selector wakes the call whose reply arrived and
switches to it: no GIL contention, no thread per call.

The price is a rule for handlers: a handler never blocks its thread. Socket waits go
through the hub (SocketLines does it); database work and anything else that may wait
goes through `blocking()`, which runs it on the hub's worker threads while other calls go
on. A stall watchdog logs (with the hub's stack) any handler that breaks the rule.
"""
from __future__ import annotations

import collections
import heapq
import itertools
import logging
import select
import selectors
import socket
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import greenlet

log = logging.getLogger(__name__)

SWEEP_SECONDS = 0.05  # how often deadlines are checked: timeouts are seconds long
STALL_SECONDS = 0.5  # a loop pass longer than this is logged as a stall


class CallGreenlet(greenlet.greenlet):
    """A call's greenlet: knows its hub, and what it is waiting for until when."""

    def __init__(self, hub: "CallHub", run: Callable[..., None]):
        super().__init__(run, parent=hub.loop_greenlet)
        self.hub = hub
        self.deadline: float | None = None
        self.waiting_fd: int | None = None


class CallHub:
    def __init__(self, workers: int = 8, name: str = "call-hub"):
        self.name = name
        self.selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self.selector.register(self._wake_reader, selectors.EVENT_READ, None)
        self._from_threads: collections.deque[Callable[[], None]] = collections.deque()
        self._workers = ThreadPoolExecutor(workers, thread_name_prefix=f"{name}-worker")
        self._registered: dict[int, tuple[CallGreenlet, int]] = {}  # fd -> (its call, the events)
        self._waiting: set[CallGreenlet] = set()  # greenlets with a deadline
        self._timers: list[tuple[float, int, Callable[[], None]]] = []  # (when, order, callback), a heap
        self._timer_order = itertools.count()
        self._next_sweep = 0.0
        self._running = False
        self._thread: threading.Thread | None = None
        self._beat = time.monotonic()
        self._busy = False
        self.loop_greenlet: greenlet.greenlet | None = None

    # lifecycle (any thread) ----------------------------------------------------------------

    def start(self, on_start: Callable[[], None] | None = None) -> "CallHub":
        started = threading.Event()

        def main() -> None:
            self.loop_greenlet = greenlet.getcurrent()
            if on_start is not None:
                on_start()
            started.set()
            self._loop()

        self._running = True
        self._thread = threading.Thread(target=main, name=self.name, daemon=True)
        self._thread.start()
        started.wait()
        threading.Thread(target=self._watch_stalls, name=f"{self.name}-watchdog", daemon=True).start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """End the loop (live greenlets are abandoned: stop calls first) and the workers."""
        self.call_soon_threadsafe(self._end)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._workers.shutdown(wait=False, cancel_futures=True)

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        self._from_threads.append(callback)
        try:
            self._wake_writer.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already awake, or closed at shutdown

    # used from the hub thread --------------------------------------------------------------

    def spawn(self, run: Callable[..., None], *args) -> CallGreenlet:
        """Start `run(*args)` as a call greenlet; returns when it first waits (or ends)."""
        call = CallGreenlet(self, lambda: self._guard(run, args))
        call.switch()
        return call

    def watch(self, sock: socket.socket, callback: Callable[[], None]) -> None:
        """Call `callback` on the hub whenever `sock` is readable (e.g. a listener)."""
        self.selector.register(sock, selectors.EVENT_READ, callback)

    def unwatch(self, sock: socket.socket) -> None:
        try:
            self.selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Call `callback` on the hub in `delay` seconds (or a little later)."""
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_order), callback))

    # used from a call greenlet -------------------------------------------------------------

    def run_blocking(self, function: Callable, *args, **kwargs):
        """Run `function` on a worker thread; this call waits, the others go on."""
        call = greenlet.getcurrent()
        future = self._workers.submit(function, *args, **kwargs)
        future.add_done_callback(lambda done: self.call_soon_threadsafe(lambda: call.switch()))
        self.loop_greenlet.switch()
        return future.result()

    # the loop -------------------------------------------------------------------------------

    def wait(self, call: CallGreenlet, sock: socket.socket, events: int, deadline: float | None) -> None:
        """Switch away from `call` until `sock` is ready (socket.timeout at `deadline`)."""
        fd = sock.fileno()
        # A socket stays registered between waits (one epoll_ctl a call, not one a
        # command); it is only modified when the kind of wait changes.
        registered = self._registered.get(fd)
        if registered is None:
            self.selector.register(sock, events, call)
            self._registered[fd] = (call, events)
        elif registered != (call, events):
            self.selector.modify(sock, events, call)
            self._registered[fd] = (call, events)
        call.deadline, call.waiting_fd = deadline, fd
        if deadline is not None:
            self._waiting.add(call)
        try:
            outcome = self.loop_greenlet.switch()
        finally:
            call.deadline, call.waiting_fd = None, None
            self._waiting.discard(call)
        if outcome is not True:
            raise socket.timeout("timed out waiting for Asterisk")

    def _loop(self) -> None:
        while self._running:
            self._beat = time.monotonic()
            self._busy = False
            timeout = max(0.0, self._next_sweep - time.monotonic()) if self._waiting else None
            if self._timers:
                until_timer = max(0.0, self._timers[0][0] - time.monotonic())
                timeout = until_timer if timeout is None else min(timeout, until_timer)
            ready = self.selector.select(timeout)
            self._busy = True
            for key, _mask in ready:
                if key.data is None:
                    self._run_from_threads()
                elif isinstance(key.data, CallGreenlet):
                    self._wake(key)
                else:
                    key.data()
            if self._from_threads:
                self._run_from_threads()
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                self._run_timer(heapq.heappop(self._timers)[2])
            if now >= self._next_sweep:
                self._next_sweep = now + SWEEP_SECONDS
                self._expire(now)
        self.selector.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _wake(self, key: selectors.SelectorKey) -> None:
        call: CallGreenlet = key.data
        if call.waiting_fd == key.fd:
            call.switch(True)
            return
        # Readable while its call is busy elsewhere (a HANGUP line, EOF during a database
        # look-up): stop watching, or the level-triggered selector would spin; the next
        # wait registers it again and finds the data.
        self.unwatch(key.fileobj)
        self._registered.pop(key.fd, None)

    def _expire(self, now: float) -> None:
        for call in [c for c in self._waiting if c.deadline is not None and c.deadline <= now]:
            call.switch(False)

    @staticmethod
    def _run_timer(callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            log.exception("a timer on the call hub failed")  # and the loop goes on

    def _run_from_threads(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        while self._from_threads:
            self._from_threads.popleft()()

    def _end(self) -> None:
        self._running = False

    def forget(self, sock: socket.socket) -> None:
        """Before a call closes its socket: the selector must not keep a closed fd."""
        fd = sock.fileno()
        if fd >= 0:
            self._registered.pop(fd, None)
            self.unwatch(sock)

    @staticmethod
    def _guard(run: Callable[..., None], args) -> None:
        try:
            run(*args)
        except greenlet.GreenletExit:
            pass
        except BaseException:
            # An exception leaving a greenlet would end the hub's loop with it.
            log.exception("a call greenlet failed outside its handler")

    # the stall watchdog ---------------------------------------------------------------------

    def _watch_stalls(self) -> None:
        reported = 0.0
        while self._running:
            time.sleep(STALL_SECONDS / 2)
            if self._busy and time.monotonic() - self._beat > STALL_SECONDS and self._beat != reported:
                reported = self._beat
                frame = sys._current_frames().get(self._thread.ident) if self._thread else None
                stack = "".join(traceback.format_stack(frame)) if frame else "(no stack)"
                log.error("the call hub has been blocked for over %.1f s: every call waits. A handler must not "
                          "block; use blocking(). The hub is at:\n%s", STALL_SECONDS, stack)


def wait_readable(sock: socket.socket, deadline: float | None) -> None:
    """Until `sock` has data (socket.timeout at `deadline`): on the hub, or by poll()."""
    _wait_for(sock, selectors.EVENT_READ, deadline)


def wait_writable(sock: socket.socket, deadline: float | None) -> None:
    _wait_for(sock, selectors.EVENT_WRITE, deadline)


def _wait_for(sock: socket.socket, events: int, deadline: float | None) -> None:
    current = greenlet.getcurrent()
    if isinstance(current, CallGreenlet):
        current.hub.wait(current, sock, events, deadline)
        return
    wait = None if deadline is None else deadline - time.monotonic()
    if wait is not None and wait <= 0:
        raise socket.timeout("timed out")
    readable = events == selectors.EVENT_READ
    ready = select.select([sock] if readable else [], [] if readable else [sock], [], wait)
    if not any(ready):
        raise socket.timeout("timed out")


def blocking(function: Callable, *args, **kwargs):
    """Run `function(*args, **kwargs)` without holding up other calls.

    On a call greenlet it runs on the hub's workers; anywhere else (a test, a CLI) it
    simply runs.
    """
    current = greenlet.getcurrent()
    if isinstance(current, CallGreenlet):
        return current.hub.run_blocking(function, *args, **kwargs)
    return function(*args, **kwargs)

