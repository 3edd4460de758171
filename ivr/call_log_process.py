"""The call-log writer: the IVR's finished calls, written by a process of its own.

Why a process: a writer thread beside the call hub would fight the hub for the GIL, and
that interplay, more than the writing itself, costs live calls CPU and turnaround time
(bench/b1_ivr.py measures the IVR with this writer). Here the hub only appends a finished
call to a list; a courier thread sends what has gathered every `linger` seconds (sooner
when `max_batch` have gathered), pickled in one message, and the child writes it with
CallLogStore (retries record by record, a spool file for what still fails). The courier
also tells the child when to settle the calls nothing followed, by the IVR's clock.

Children are forked from a forkserver that has already imported the writing code: a
child starts in a few hundredths of a second rather than the best part of one, so a
writer that died is replaced at once, and every test's IVR can have a writer of its
own. The forkserver itself runs no threads, so forking it is safe.

Nothing accepted is lost: a batch stays with the parent until the child acknowledges it.
If the child dies, a new one is started and gets every unacknowledged batch again; what
cannot be handed over at stop is written to the spool, which the next writer replays.
The child ignores SIGINT and SIGTERM (Ctrl-C or a service stop signals the whole process
group): the parent ends it at stop. Should it die once shutdown has begun (closing()),
it is not replaced and nothing is logged as an error: what it did not acknowledge, and
what comes after, goes to the spool at stop.
(A child that dies after committing a batch but before acknowledging it makes the batch
be written twice: its call rows are upserts, its IVR sessions would appear twice.)
"""
from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import signal
import threading
import time
from pathlib import Path
from typing import Callable

from db.base import utcnow
from ivr.call_log import CallLogStore, IvrCallRecord, rejected_file

log = logging.getLogger(__name__)
RESTART_PAUSE = 1.0  # seconds between restarts of a child that keeps dying
# Children that may die with the same batch in hand before it is split up (and a lone
# record set aside): something in it kills the writer, and it must not kill the next.
DEATHS_PER_BATCH = 2
START_TIMEOUT = 30.0  # seconds a new child has to import, connect and replay the spool
SETTLE_EVERY = 60.0  # seconds between two looks for calls to settle
READY = "ready"
SETTLE = "settle"  # (SETTLE, now): settle the calls nothing followed, as of now
# What the forkserver imports once, so that each child has it already.
PRELOAD = ["ivr.call_log", "db.session", "zoneinfo"]


def _child_main(connection, database_url: str, timezone: str, spool: str, unfollowed_after: float | None) -> None:
    from zoneinfo import ZoneInfo

    from db.session import make_engine, make_session_factory

    # The parent decides when to stop: a signal to the whole group (Ctrl-C, a service
    # stop) must not end the writer while the IVR still hands it the last calls.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    store = CallLogStore(make_session_factory(make_engine(database_url)), ZoneInfo(timezone), Path(spool),
                         unfollowed_after=unfollowed_after)
    store.replay_spool()
    connection.send(READY)
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        if message[0] == SETTLE:
            store.settle_unfollowed(message[1])  # never raises
            continue
        batch_id, records = message
        try:
            store.write_batch(records)  # never raises: a bad record costs only itself
        except Exception:
            # Should write_batch ever fail whole, a writer that dies would only be given
            # the same batch again: keep it and go on.
            log.exception("the call-log writer failed on a batch of %d; keeping it in %s", len(records), spool)
            CallLogStore.spool_records(Path(spool), records)
        connection.send(batch_id)


class CallLogProcess:
    """The call-log writer: handlers submit finished calls; a child process writes them."""

    def __init__(self, database_url: str, timezone: str, spool: Path, linger: float = 0.5, max_batch: int = 500,
                 unfollowed_after: float | None = None, clock: Callable[[], dt.datetime] = utcnow):
        self.database_url = database_url
        self.timezone = timezone
        self.spool = spool
        # Seconds after which a call nothing followed after the IVR is ended (None: never),
        # looked for every settle_every seconds, as of the IVR's clock.
        self.unfollowed_after = unfollowed_after
        self.settle_every = min(SETTLE_EVERY, unfollowed_after or SETTLE_EVERY)
        self.clock = clock
        self._next_settle = 0.0  # time.monotonic() of the next look
        # A transaction costs the child about what writing three calls does, however
        # few calls it carries: at a quiet hour's pace, batches a tenth of a second
        # apart cost it more than the calls. Half a second is still long before anyone
        # opens a call that has just left the IVR (the screen pop comes from Asterisk).
        self.linger = linger
        self.max_batch = max_batch  # sent at once when this many have gathered
        self._pending: list[IvrCallRecord] = []
        self._unacked: dict[int, list[IvrCallRecord]] = {}
        self._deaths: dict[int, int] = {}  # batch id -> children that died with it in hand
        self._next_batch = 0
        self._state = threading.Condition()
        self._wake = threading.Event()
        self._stopping = False
        self._closing = False  # shutdown has begun: a child that dies is not replaced
        self._ended_in_shutdown = False
        self._child = None
        self._connection = None
        self._last_start = 0.0
        self._courier: threading.Thread | None = None

    def start(self) -> "CallLogProcess":
        self._spawn()
        self._courier = threading.Thread(target=self._run, name="call-log-courier", daemon=True)
        self._courier.start()
        return self

    def submit(self, record: IvrCallRecord) -> None:
        with self._state:
            self._pending.append(record)
            if len(self._pending) == self.max_batch:
                self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written (or spooled)."""
        self._wake.set()
        with self._state:
            self._state.wait_for(lambda: self._settled() or self._ended_in_shutdown, timeout)
            return self._settled()

    def _settled(self) -> bool:
        return not self._pending and not self._unacked

    def closing(self) -> None:
        """Shutdown has begun: a child that dies from now on is not replaced (stop() spools)."""
        self._closing = True

    def stop(self, timeout: float = 30.0) -> None:
        """Hand over what is held, waiting up to `timeout` for each step; a child that has
        not ended within `timeout` (5 s at most) is killed."""
        if self._courier is None:
            return
        self.flush(timeout)
        self._stopping = True
        self._wake.set()
        self._courier.join(timeout)
        self._courier = None
        self._end_child(timeout=min(timeout, 5.0))
        with self._state:
            leftover = self._pending + [r for _, batch in sorted(self._unacked.items()) for r in batch]
            self._pending, self._unacked = [], {}
        if leftover:
            # The writer ended with the rest of the process group: expected, and the next
            # writer replays the spool. Any other writer that did not take them is a fault.
            report = log.warning if self._ended_in_shutdown else log.error
            report("%d IVR call records not written by the writer process; kept in %s", len(leftover), self.spool)
            CallLogStore.spool_records(self.spool, leftover)

    # the courier thread ---------------------------------------------------------------------

    def _run(self) -> None:
        # A batch goes every `linger` seconds (sooner on flush or stop), acknowledged or
        # not. Acknowledgements are waited for in the kernel (poll) rather than looked
        # for every few milliseconds, so the courier takes the interpreter from the call
        # hub only when there is something to do.
        next_send = time.monotonic() + self.linger
        while True:
            timeout = max(0.0, next_send - time.monotonic())
            with self._state:
                waiting_for_acks = bool(self._unacked)
            if waiting_for_acks and self._connection is not None:
                self._wait_for_ack(timeout)
            else:
                self._wake.wait(timeout)
            asked = self._wake.is_set()
            self._wake.clear()
            self._read_acks()
            if asked or self._stopping or time.monotonic() >= next_send:
                self._send_pending()
                next_send = time.monotonic() + self.linger
            self._send_settle()
            if self._stopping:
                return  # stop() has flushed; what is still not acknowledged it spools

    def _wait_for_ack(self, timeout: float) -> None:
        try:
            self._connection.poll(timeout)
        except (OSError, EOFError, ValueError):
            pass  # _read_acks finds the pipe closed and replaces the child

    def _send_pending(self) -> None:
        with self._state:
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            self._next_batch += 1
            self._unacked[self._next_batch] = batch
            batch_id = self._next_batch
        if self._connection is None:
            return  # the writer ended in shutdown: stop() spools it
        try:
            self._connection.send((batch_id, batch))
        except (OSError, EOFError, ValueError):
            self._restart("could not hand it a batch")

    def _send_settle(self) -> None:
        """Every settle_every seconds, after the batches sent so far: the child settles."""
        if (self.unfollowed_after is None or self._stopping or self._connection is None
                or time.monotonic() < self._next_settle):
            return
        self._next_settle = time.monotonic() + self.settle_every
        try:
            self._connection.send((SETTLE, self.clock()))
        except (OSError, EOFError, ValueError):
            pass  # _read_acks finds the pipe closed and replaces the child

    def _read_acks(self) -> None:
        if self._connection is None:
            return
        try:
            while self._connection.poll():
                acked = self._connection.recv()
                with self._state:
                    self._unacked.pop(acked, None)
                    self._deaths.pop(acked, None)
                    self._state.notify_all()
        except (OSError, EOFError, ValueError):
            self._restart("its pipe closed")
            return
        if not self._child_alive():
            self._restart(f"it exited with {self._child.exitcode}")

    # the child --------------------------------------------------------------------------------

    def _spawn(self) -> None:
        # Never fork this process (it has live threads): the forkserver has none.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)  # taken when the forkserver first starts
        ours, theirs = context.Pipe()
        self._child = context.Process(target=_child_main, name="hotline-call-log",
                                      args=(theirs, self.database_url, self.timezone, str(self.spool),
                                            self.unfollowed_after), daemon=True)
        self._child.start()
        theirs.close()
        self._connection = ours
        self._last_start = time.monotonic()
        # Wait for it: calls should not share the CPU with a writer still importing.
        try:
            if not (ours.poll(START_TIMEOUT) and ours.recv() == READY):
                log.error("the call-log writer process did not start within %.0f s", START_TIMEOUT)
        except (EOFError, OSError):
            log.error("the call-log writer process ended while starting (exit code %s)", self._child.exitcode)

    def _child_alive(self) -> bool:
        return self._child is not None and self._child.is_alive()

    def _restart(self, why: str) -> None:
        if self._stopping:
            return  # stop() spools what is not acknowledged
        if self._closing:
            # Signalled with the rest of the process group: no new writer for the last
            # seconds, and no error; stop() spools what it held and what comes after.
            log.info("the call-log writer process ended during shutdown (%s); %d batches go to the spool",
                     why, len(self._unacked))
            self._end_child(timeout=1.0)
            with self._state:
                self._ended_in_shutdown = True
                self._state.notify_all()
            return
        log.error("the call-log writer process is gone (%s); starting another, %d batches to hand over again",
                  why, len(self._unacked))
        self._end_child(timeout=1.0)
        self._set_aside_what_kills()
        time.sleep(max(0.0, self._last_start + RESTART_PAUSE - time.monotonic()))
        self._spawn()
        with self._state:
            resend = sorted(self._unacked.items())
        for batch_id, batch in resend:
            try:
                self._connection.send((batch_id, batch))
            except (OSError, EOFError, ValueError):
                return  # the next pass notices and tries again

    def _set_aside_what_kills(self) -> None:
        """The child writes batches in order: the oldest unacknowledged one was in its
        hands when it died. A batch that has been there at DEATHS_PER_BATCH deaths is
        split into single records; a single record is kept in the rejected file."""
        with self._state:
            if not self._unacked:
                return
            suspect = min(self._unacked)
            self._deaths[suspect] = self._deaths.get(suspect, 0) + 1
            if self._deaths[suspect] < DEATHS_PER_BATCH:
                return
            batch = self._unacked.pop(suspect)
            self._deaths.pop(suspect)
            if len(batch) > 1:
                log.error("the call-log writer died %d times writing a batch of %d; handing them over one by one",
                          DEATHS_PER_BATCH, len(batch))
                for record in batch:
                    self._next_batch += 1
                    self._unacked[self._next_batch] = [record]
                return
        log.error("the call-log writer died %d times writing IVR call %s; kept in %s, not retried",
                  DEATHS_PER_BATCH, batch[0].uniqueid, rejected_file(self.spool))
        CallLogStore.spool_records(rejected_file(self.spool), batch)
        with self._state:
            self._state.notify_all()

    def _end_child(self, timeout: float) -> None:
        if self._connection is not None:
            try:
                self._connection.send(None)
            except (OSError, EOFError, ValueError):
                pass
        if self._child is not None:
            self._child.join(timeout)
            if self._child.is_alive():
                self._child.kill()  # it ignores SIGTERM (and a stopped process would too)
                self._child.join(2.0)
        if self._connection is not None:
            self._connection.close()
        self._child = self._connection = None
