"""The AMI link: asterisk-ami's client with its defects contained.

asterisk-ami 0.1.7 (../shared/library-notes.md, and its source) as shipped:
- uses one `timeout` for connecting, for replies and as the socket's read timeout: after
  3 s without traffic the reader thread dies and every later action returns None;
  with timeout=None, disconnect() blocks forever (close() does not wake a blocked recv);
- runs every listener on its one reader thread; a listener that raises hits a NameError
  and kills the reader, and a slow one stalls every event;
- AutoReconnect never notices a peer that hangs without FIN;
- sends with socket.send (a large action may go out in part), writes field values as
  they are (a CR/LF in a value injects AMI headers), and shares its ActionID counter
  between threads without a lock;
- numbers ActionIDs from 1 on every connection. Asterisk sends every OriginateResponse
  to every account that reads `call`, so two processes (the console, `hotline ami`) or
  two connections would take each other's replies: ours carry a prefix unique to this
  process (ACTION_ID_PREFIX) and a counter that never restarts;
- its FutureResponse calls the deprecated Condition.notifyAll() while holding its lock:
  if that raises (a warning turned error, a newer Python), the lock is never released
  and the next `.response` blocks forever, whatever the timeout.
AmiLink keeps the client's parsing and replaces the rest: its own reply futures, blocking reads
whose liveness our own Ping watchdog proves, a shutdown that wakes the reader, a
reader that only puts events on a bounded queue and survives any bad packet, one
supervisor that reconnects with backoff and tells listeners to resync.
"""
from __future__ import annotations

import itertools
import logging
import secrets
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Callable

from asterisk.ami import AMIClient, SimpleAction

log = logging.getLogger(__name__)
ACTION_ID_PREFIX = f"hotline-{secrets.token_hex(4)}-"
_action_numbers = itertools.count(1)  # next() on a count is atomic under the GIL


def next_action_id() -> str:
    return f"{ACTION_ID_PREFIX}{next(_action_numbers)}"


def is_own_action_id(action_id: str) -> bool:
    """Did this process send the action? (Other sessions' OriginateResponses reach us too.)"""
    return action_id.startswith(ACTION_ID_PREFIX)


class AmiError(Exception):
    """Asterisk answered an action with an error, or never answered."""


class AmiLoginError(AmiError):
    pass


@dataclass(frozen=True)
class AmiEvent:
    name: str
    headers: dict[str, str]

    def get(self, key: str, default: str = "") -> str:
        value = self.headers.get(key, default)
        return value if isinstance(value, str) else default

    @property
    def variables(self) -> dict[str, str]:
        """The channel's `ChanVariable: NAME=value` headers (manager.conf channelvars)."""
        found = self.headers.get("ChanVariable")
        return dict(found) if isinstance(found, dict) else {}


class _Reply:
    """A response to wait for: an Event, not the library's lock-leaking FutureResponse."""

    def __init__(self, timeout: float):
        self._timeout = timeout
        self._done = threading.Event()
        self._response = None

    def set(self, response) -> None:
        self._response = response
        self._done.set()

    @property
    def response(self):
        self._done.wait(self._timeout)
        return self._response


class _Client(AMIClient):
    """The library's client with safe I/O; the reader only hands packets to `deliver`."""

    def __init__(self, host: str, port: int, deliver: Callable[[object], None], reply_timeout: float, connect_timeout: float):
        super().__init__(address=host, port=port, timeout=reply_timeout)
        self._deliver = deliver
        self._connect_timeout = connect_timeout
        self._send_lock = threading.Lock()
        self.banner_seen = threading.Event()
        self.packets_read = 0  # the watchdog's sign of life: a peer that sends is not hung

    def send_action(self, action, callback=None) -> _Reply:
        action_id = action.keys.setdefault("ActionID", next_action_id())
        reply = _Reply(self._timeout)
        self._futures[action_id] = reply
        self.send(action)
        return reply

    def fire_recv_reponse(self, response) -> None:  # (sic) the library's name
        reply = self._futures.pop(response.keys.get("ActionID"), None)
        if reply is not None:
            reply.set(response)

    def connect(self) -> None:
        self._socket = socket.create_connection((self._address, self._port), timeout=self._connect_timeout)
        # Reads block: the watchdog's Ping, not a read timeout, proves the peer alive.
        self._socket.settimeout(None)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self.listen, name="ami-reader", daemon=True)
        self._thread.start()

    def send(self, pack) -> None:
        if self._socket is None:
            raise OSError("not connected")
        with self._send_lock:
            self._socket.sendall((str(pack) + "\r\n").encode(self.encoding))

    def disconnect(self) -> None:
        if self.finished is not None:
            self.finished.set()
        if self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)  # wakes the reader out of recv
            except OSError:
                pass
            self._socket.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)

    def listen(self) -> None:
        packs = self._next_pack()
        try:
            banner = next(packs)
            if not self.asterisk_start_regex.match(banner):
                log.error("not an Asterisk manager: %r", banner[:80])
                return
            self.banner_seen.set()
            for pack in packs:
                self.packets_read += 1
                try:
                    self.fire_recv_pack(pack)
                except Exception:
                    log.exception("dropped an AMI packet that could not be handled: %r", pack[:200])
        except Exception as exc:  # reset, shutdown: the supervisor reconnects
            log.info("AMI reader stopped: %s", exc)
        finally:
            self.finished.set()

    def fire_recv_event(self, event) -> None:
        self._deliver(event)


class AmiLink:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        event_mask: str = "on",
        max_events: int = 100_000,
        reply_timeout: float = 2.0,
        ping_interval: float = 1.0,
        reconnect_delay: float = 0.2,
        reconnect_max_delay: float = 2.0,
    ):
        self.host, self.port, self.username, self.secret = host, port, username, secret
        self.event_mask = event_mask
        self.events: queue.Queue[AmiEvent] = queue.Queue(maxsize=max_events)
        self.reply_timeout = reply_timeout
        self.ping_interval = ping_interval
        self.reconnect_delay, self.reconnect_max_delay = reconnect_delay, reconnect_max_delay
        self.connected = threading.Event()
        self.dropped_events = 0
        self.reconnects = 0
        self.last_error: str | None = None
        # Called (on the supervisor thread) after every login: time to resync state.
        self.on_connected: list[Callable[["AmiLink"], None]] = []
        self._client: _Client | None = None
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------------

    def start(self) -> "AmiLink":
        self._supervisor = threading.Thread(target=self._supervise, name="ami-supervisor", daemon=True)
        self._supervisor.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        client = self._client
        if client is not None:
            if self.connected.is_set():
                try:
                    client.send(SimpleAction("Logoff", ActionID="logoff"))
                except OSError:
                    pass
            client.disconnect()
        if self._supervisor is not None:
            self._supervisor.join(5.0)
        self.connected.clear()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    # actions -----------------------------------------------------------------------------------

    def action(self, name: str, **fields: str) -> dict[str, str]:
        """Send an action and wait for its response; AmiError if refused or unanswered."""
        client = self._client
        if client is None or not self.connected.is_set():
            raise AmiError(f"{name}: not connected to Asterisk")
        for key, value in fields.items():
            if any(ch in f"{key}{value}" for ch in "\r\n"):
                raise AmiError(f"{name}: line break in {key} would inject AMI headers")
        try:
            future = client.send_action(SimpleAction(name, **{k: str(v) for k, v in fields.items()}))
        except OSError as exc:
            raise AmiError(f"{name}: {exc}") from exc
        response = future.response  # waits up to reply_timeout
        if response is None:
            raise AmiError(f"{name}: no response within {self.reply_timeout} s")
        if response.is_error():
            raise AmiError(f"{name}: {response.keys.get('Message', 'error')}")
        return dict(response.keys)

    def originate(self, channel: str, context: str, exten: str, *, priority: int = 1,
                  variables: dict[str, str] | None = None, action_id: str | None = None, **fields: str) -> str:
        """Originate asynchronously; returns the ActionID its OriginateResponse event will carry.

        Give action_id to record the attempt under it before the call is placed."""
        action_id = action_id or next_action_id()
        extra = {"Variable": ",".join(f"{k}={v}" for k, v in (variables or {}).items())} if variables else {}
        self.action("Originate", ActionID=action_id, Channel=channel, Context=context, Exten=exten,
                    Priority=str(priority), Async="true", **extra, **fields)
        return action_id

    # the supervisor ------------------------------------------------------------------------------

    def _supervise(self) -> None:
        delay = self.reconnect_delay
        while not self._stop.is_set():
            try:
                self._connect()
                delay = self.reconnect_delay
                self._watch()
            except AmiLoginError as exc:
                self.last_error = str(exc)
                log.error("%s", exc)
            except (OSError, AmiError) as exc:
                self.last_error = str(exc)
                log.warning("AMI link to %s:%s down: %s", self.host, self.port, exc)
            finally:
                self.connected.clear()
                if self._client is not None:
                    self._client.disconnect()
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.reconnect_max_delay)
            self.reconnects += 1

    def _connect(self) -> None:
        client = _Client(self.host, self.port, self._enqueue, self.reply_timeout, connect_timeout=2.0)
        self._client = client
        client.connect()
        if not client.banner_seen.wait(self.reply_timeout):
            raise AmiError("no AMI banner")
        future = client.send_action(SimpleAction("Login", Username=self.username, Secret=self.secret, Events=self.event_mask))
        response = future.response
        if response is None:
            raise AmiError("no answer to Login")
        if response.is_error():
            raise AmiLoginError(f"AMI login as {self.username} refused: {response.keys.get('Message', '')}")
        self.connected.set()
        self.last_error = None
        for callback in self.on_connected:
            try:
                callback(self)
            except Exception:
                log.exception("AMI resync after login failed")

    def _watch(self) -> None:
        """Ping while connected; a peer that stops answering is dropped (even without FIN).

        A Pong arrives behind everything the peer sent before it: under a flood of events
        on a busy machine it can be late while the peer is plainly alive. Only a peer that
        sent nothing at all while the Ping waited is taken for hung."""
        client = self._client
        while not self._stop.is_set() and not client.finished.is_set():
            # Wakes at once when the reader ends (FIN, reset), not at the next Ping.
            if client.finished.wait(self.ping_interval) or self._stop.is_set():
                break
            heard = client.packets_read
            if (client.send_action(SimpleAction("Ping")).response is None and not client.finished.is_set()
                    and client.packets_read == heard):
                raise AmiError(f"no answer to Ping within {self.reply_timeout} s: peer hung")
        if not self._stop.is_set():
            raise AmiError("connection closed by Asterisk")

    # the reader's only job -------------------------------------------------------------------------

    def _enqueue(self, event) -> None:
        try:
            self.events.put_nowait(AmiEvent(event.name, dict(event.keys)))
        except queue.Full:
            # Never block the reader: count it; the consumer resyncs from Asterisk.
            self.dropped_events += 1
        except Exception:
            log.exception("could not queue AMI event")
