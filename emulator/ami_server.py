"""The emulator's AMI side: a manager interface that behaves as ../shared/asterisk-facts.md says.

Banner `Asterisk Call Manager/11.0.0`; Login with `Events: off` or an event mask;
responses carrying the ActionID; list actions (QueueStatus, CoreShowChannels) as
`EventList: start` … `EventList: Complete`; Originate answered at once and then by an
OriginateResponse event matched by ActionID; Ping, queue member actions, Logoff.
Each event goes only to sessions whose account's read classes and login mask both cover
its class (manager.c: send_events = readperm & mask; an event is sent when
send_events & category == category), with its `Privilege: <class>,all` header.
Tests can broadcast events, close every connection (FIN), or hang (stop reading and
writing with the sockets left open), as a real peer sometimes does.
"""
from __future__ import annotations

import itertools
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from dialplans.contract import AMI_READ_CLASSES

BANNER = "Asterisk Call Manager/11.0.0\r\n"
# Originate: how a dialled number answers. Reason codes as Asterisk reports them.
REASON_ANSWERED, REASON_FAILED, REASON_NO_ANSWER, REASON_BUSY, REASON_CONGESTION = 4, 0, 1, 5, 8
# Every class manager.c knows; "on" at login means all of them.
CLASSES = frozenset({"system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf", "reporting",
                     "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security", "message"})
# The class of each event, as Asterisk 22 raises it (manager_channels.c, stasis_channels.c,
# app_queue.c, res_agi.c, manager.c...). An event not listed here cannot be emitted.
EVENT_CLASSES = {
    **dict.fromkeys(("Newchannel", "Newstate", "Hangup", "HangupRequest", "SoftHangupRequest", "NewCallerid",
                     "NewConnectedLine", "NewAccountCode", "Rename", "DialBegin", "DialState", "DialEnd", "Hold",
                     "Unhold", "MusicOnHoldStart", "MusicOnHoldStop", "MixMonitorStart", "MixMonitorStop",
                     "BridgeCreate", "BridgeEnter", "BridgeLeave", "BridgeDestroy", "LocalBridge", "OriginateResponse",
                     "DeviceStateChange", "ExtensionStatus", "BlindTransfer", "AttendedTransfer", "Pickup",
                     "ChanSpyStart", "ChanSpyStop"), "call"),
    **dict.fromkeys(("Newexten", "VarSet"), "dialplan"),
    **dict.fromkeys(("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled", "AgentConnect",
                     "AgentComplete", "AgentRingNoAnswer", "AgentDump", "QueueMemberAdded", "QueueMemberRemoved",
                     "QueueMemberPause", "QueueMemberStatus", "QueueMemberPenalty", "QueueMemberRinginuse",
                     "AgentLogin", "AgentLogoff"), "agent"),
    "Cdr": "cdr",
    "UserEvent": "user",
    **dict.fromkeys(("DTMFBegin", "DTMFEnd"), "dtmf"),
    **dict.fromkeys(("AGIExecStart", "AGIExecEnd", "AsyncAGIStart", "AsyncAGIExec", "AsyncAGIEnd"), "agi"),
    **dict.fromkeys(("FullyBooted", "Reload", "Shutdown", "PeerStatus", "ContactStatus", "Registry"), "system"),
}


def message(**headers) -> str:
    """An AMI packet; a list value repeats its header (ChanVariable: A=1, ChanVariable: B=2)."""
    lines = []
    for key, value in headers.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key}: {item}\r\n")
    return "".join(lines) + "\r\n"


# Events that answer an action as a list (EventList: start ... Complete): sent to the
# session that asked, whatever its read classes.
LIST_EVENTS = frozenset({"CoreShowChannel", "CoreShowChannelsComplete", "QueueParams", "QueueMember", "QueueEntry",
                         "QueueStatusComplete", "QueueSummary", "QueueSummaryComplete"})


def event_mask(text: str) -> frozenset[str]:
    """The classes a login's or an Events action's mask names (manager.c strings_to_mask)."""
    text = text.strip().lower()
    if text in ("on", "yes", "true", "y", "t", "1"):
        return CLASSES
    if text in ("off", "no", "false", "n", "f", "0"):
        return frozenset()
    return frozenset(part.strip() for part in text.split(",")) & CLASSES


def privilege_class(packet: str) -> str | None:
    """The class in a recorded packet's `Privilege: call,all` header, if it has one."""
    start = packet.find("Privilege:")
    if start < 0:
        return None
    end = packet.find("\r\n", start)
    return packet[start + len("Privilege:"):end if end >= 0 else None].split(",", 1)[0].strip().lower()


@dataclass
class _Session:
    sock: socket.socket
    logged_in: bool = False
    # The classes this session is sent: the account's read classes and its mask.
    send_events: frozenset[str] = frozenset()
    lock: threading.Lock = field(default_factory=threading.Lock)

    def takes(self, event_class: str) -> bool:
        return self.logged_in and event_class in self.send_events

    def send(self, text: str) -> None:
        with self.lock:
            try:
                self.sock.sendall(text.encode("utf-8"))
            except OSError:
                pass


class AmiServer:
    def __init__(self, username: str = "hotline", secret: str = "development-ami-secret",
                 originate_outcome: Callable[[str], int] | None = None, originate_delay: float = 0.05,
                 host: str = "127.0.0.1", port: int = 0, read: tuple[str, ...] = AMI_READ_CLASSES):
        self.username, self.secret = username, secret
        # The account's read classes: by default those of our rendered manager.conf.
        self.read = frozenset(read) & CLASSES
        self.originate_outcome = originate_outcome or (lambda channel: REASON_ANSWERED)
        self.originate_delay = originate_delay
        self.sessions: list[_Session] = []
        self.actions: list[dict[str, str]] = []  # every action received, for tests
        self.queue_members: dict[str, dict[str, dict[str, str]]] = {}
        self.channels: dict[str, dict[str, str]] = {}
        # Callers waiting in each queue now (the switch's held callers): queue -> uniqueid ->
        # {"Channel", "CallerIDNum", "joined" (time.time()), "Priority"}, listed by QueueStatus as QueueEntry.
        self.queue_entries: dict[str, dict[str, dict]] = {}
        # queues.conf's strategy and weight of a queue, for QueueStatus (default rrmemory, 0).
        self.queue_params: dict[str, tuple[str, int]] = {}
        self._hung = threading.Event()
        self._frozen: set[int] = set()
        self._frozen_sessions: list[_Session] = []
        self._lock = threading.Lock()
        # Called (on its own thread) for every answered Originate: the call then runs the
        # dialplan, e.g. a survey call's AGI.
        self.on_answered: Callable[[dict[str, str]], None] | None = None
        # Called (on its own thread) for every Originate with (action, uniqueid, reason,
        # respond): a switch that plays the originated call's channel events calls
        # respond() (the OriginateResponse) when Asterisk would, and returns True.
        self.on_originate: Callable[[dict[str, str], str, int, Callable[[], None]], bool] | None = None
        # Emulator-only actions (the demo's "place a call"): name -> fn(action) -> response headers.
        self.custom_actions: dict[str, Callable[[dict[str, str]], dict[str, str]]] = {}
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(0.2)
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    def start(self) -> "AmiServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        with self._lock:
            self.sessions += self._frozen_sessions
            self._frozen_sessions = []
        self.close_all()
        self._listener.close()

    # what tests do to the peer ------------------------------------------------------------

    def emit(self, name: str, **headers) -> None:
        """Send an event to every logged-in session whose classes cover it."""
        event_class = EVENT_CLASSES.get(name)
        if event_class is None:
            raise KeyError(f"{name}: give it its Asterisk class in EVENT_CLASSES before emitting it")
        text = message(Event=name, Privilege=f"{event_class},all", **headers)
        for session in self._live():
            if session.takes(event_class) and not self._hung.is_set():
                session.send(text)

    def send_raw(self, text: str) -> int:
        """Send a recorded trace's packets as they are to every logged-in session, each
        packet with a Privilege header only where its class is taken; returns the most
        packets one session was sent."""
        most = 0
        packets = [packet + "\r\n\r\n" for packet in text.split("\r\n\r\n") if packet.strip()]
        if "Privilege:" not in text:  # nothing to choose by (a benchmark's burst)
            for session in self._live():
                if session.logged_in:
                    session.send(text)
            return len(packets)
        for session in self._live():
            if not session.logged_in:
                continue
            chosen = [p for p in packets if (c := privilege_class(p)) is None or session.takes(c)]
            session.send("".join(chosen))
            most = max(most, len(chosen))
        return most

    def close_all(self) -> None:
        """Close every connection: the client sees a FIN."""
        with self._lock:
            sessions, self.sessions = self.sessions, []
        for session in sessions:
            try:
                session.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            session.sock.close()

    def hang(self) -> None:
        """Stop answering on open connections, without closing them (a hung peer)."""
        self._hung.set()
        with self._lock:
            self._frozen |= {id(session) for session in self.sessions}
            self._frozen_sessions += self.sessions
            self.sessions = []

    def resume(self) -> None:
        """New connections are served again; the hung ones stay hung."""
        self._hung.clear()

    def logged_in_sessions(self) -> int:
        return sum(1 for session in self._live() if session.logged_in)

    # serving ---------------------------------------------------------------------------------

    def _live(self) -> list[_Session]:
        with self._lock:
            return list(self.sessions)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            session = _Session(sock)
            with self._lock:
                self.sessions.append(session)
            threading.Thread(target=self._serve, args=(session,), daemon=True).start()

    def _serve(self, session: _Session) -> None:
        if self._hung.is_set():
            with self._lock:
                self._frozen.add(id(session))
                self._frozen_sessions.append(session)
        else:
            session.send(BANNER)
        buffer = b""
        while True:
            try:
                chunk = session.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                raw, buffer = buffer.split(b"\r\n\r\n", 1)
                if id(session) in self._frozen:
                    continue  # a hung peer reads nothing and says nothing
                self._handle(session, _parse(raw.decode("utf-8", errors="replace")))

    def _handle(self, session: _Session, action: dict[str, str]) -> None:
        self.actions.append(action)
        name = action.get("Action", "").lower()
        action_id = action.get("ActionID", "")
        if name == "login":
            if action.get("Username") == self.username and action.get("Secret") == self.secret:
                session.logged_in = True
                mask = action.get("Events", "")
                session.send_events = self.read & event_mask(mask) if mask.strip() else self.read
                session.send(message(Response="Success", ActionID=action_id, Message="Authentication accepted"))
                if session.takes("system"):  # to this session only, as manager.c does
                    session.send(message(Event="FullyBooted", Privilege="system,all", Status="Fully Booted"))
            else:
                session.send(message(Response="Error", ActionID=action_id, Message="Authentication failed"))
            return
        if not session.logged_in:
            session.send(message(Response="Error", ActionID=action_id, Message="Permission denied"))
            return
        custom = self.custom_actions.get(name)
        if custom is not None:
            threading.Thread(target=self._custom, args=(session, custom, action, action_id), daemon=True).start()
            return
        handler = getattr(self, f"_action_{name}", None)
        if handler is None:
            session.send(message(Response="Error", ActionID=action_id, Message="Invalid/unknown command"))
            return
        handler(session, action, action_id)

    def _custom(self, session, custom, action, action_id):
        try:
            session.send(message(Response="Success", ActionID=action_id, **custom(action)))
        except Exception as exc:  # the emulator reports, never dies
            session.send(message(Response="Error", ActionID=action_id, Message=str(exc).replace("\r", " ").replace("\n", " ")))

    def _action_ping(self, session, action, action_id):
        session.send(message(Response="Success", ActionID=action_id, Ping="Pong", Timestamp=f"{time.time():.6f}"))

    def _action_events(self, session, action, action_id):
        session.send_events = self.read & event_mask(action.get("EventMask", "on"))
        session.send(message(Response="Success", ActionID=action_id, Events="On" if session.send_events else "Off"))

    def _action_logoff(self, session, action, action_id):
        session.send(message(Response="Goodbye", ActionID=action_id, Message="Thanks for all the fish."))
        session.sock.close()

    def _action_originate(self, session, action, action_id):
        if action.get("Async", "").lower() not in ("true", "yes", "1"):
            # A synchronous Originate blocks the session until the call is answered.
            time.sleep(self.originate_delay)
        session.send(message(Response="Success", ActionID=action_id, Message="Originate successfully queued"))
        reason = self.originate_outcome(action.get("Channel", ""))
        uniqueid = f"{int(time.time())}.{next(self._ids)}"

        def respond():
            self.emit("OriginateResponse", ActionID=action_id,
                      Response="Success" if reason == REASON_ANSWERED else "Failure",
                      Channel=action.get("Channel", ""), Context=action.get("Context", ""),
                      Exten=action.get("Exten", ""), Reason=str(reason), Uniqueid=uniqueid,
                      CallerIDNum=action.get("CallerID", "<unknown>"), CallerIDName="<unknown>")

        def later():
            time.sleep(self.originate_delay)
            if self.on_originate is None or not self.on_originate(action, uniqueid, reason, respond):
                respond()
            if reason == REASON_ANSWERED and self.on_answered is not None:
                self.on_answered(action)

        threading.Thread(target=later, daemon=True).start()

    def _action_queueadd(self, session, action, action_id):
        queue, interface = action.get("Queue", ""), action.get("Interface", "")
        members = self.queue_members.setdefault(queue, {})
        if interface in members:  # app_queue: RES_EXISTS
            session.send(message(Response="Error", ActionID=action_id, Message="Unable to add interface: Already there"))
            return
        members[interface] = {"Paused": "1" if action.get("Paused") == "true" else "0", "PausedReason": "",
                              "Penalty": str(_penalty(action.get("Penalty"))),
                              "MemberName": action.get("MemberName") or interface, "LoginTime": str(int(time.time()))}
        session.send(message(Response="Success", ActionID=action_id, Message="Added interface to queue"))
        self._member_event("QueueMemberAdded", queue, interface, action.get("MemberName") or interface)

    def _action_queuepenalty(self, session, action, action_id):
        found = False
        for queue, members in self.queue_members.items():
            if action.get("Queue") in (None, "", queue) and action.get("Interface") in members:
                members[action["Interface"]]["Penalty"] = str(_penalty(action.get("Penalty")))
                found = True
        if found:
            session.send(message(Response="Success", ActionID=action_id, Message="Interface penalty set successfully"))
        else:
            session.send(message(Response="Error", ActionID=action_id, Message="Invalid interface, queuename or penalty"))

    def _action_queueremove(self, session, action, action_id):
        removed = self.queue_members.get(action.get("Queue", ""), {}).pop(action.get("Interface", ""), None)
        if removed is None:
            session.send(message(Response="Error", ActionID=action_id, Message="Unable to remove interface: Not there"))
        else:
            session.send(message(Response="Success", ActionID=action_id, Message="Removed interface from queue"))
            self._member_event("QueueMemberRemoved", action.get("Queue", ""), action.get("Interface", ""), state=removed)

    def _action_queuepause(self, session, action, action_id):
        paused = action.get("Paused", "false").lower() == "true"
        found = self.pause_member(action.get("Interface", ""), paused, action.get("Reason", ""), action.get("Queue"))
        if found:
            session.send(message(Response="Success", ActionID=action_id, Message="Interface paused successfully"))
        else:
            session.send(message(Response="Error", ActionID=action_id, Message="Interface not found"))

    def pause_member(self, interface: str, paused: bool, reason: str = "", queue_name: str | None = None) -> list[str]:
        """Pause or unpause a member (every queue, or one), as QueuePause or a phone's feature
        code does; returns the queues it was paused in."""
        found = []
        for queue, members in self.queue_members.items():
            if queue_name in (None, "", queue) and interface in members:
                members[interface].update(Paused="1" if paused else "0", PausedReason=reason)
                found.append(queue)
        for queue in found:  # one event a queue, as app_queue sends them
            self._member_event("QueueMemberPause", queue, interface)
        return found

    def _member_event(self, name: str, queue: str, interface: str, member_name: str | None = None,
                      state: dict[str, str] | None = None) -> None:
        """QueueMemberAdded/Removed/Pause (class agent), with the fields Asterisk 22 sends:
        every session reading `agent` hears of every change, whoever made it."""
        state = state or self.queue_members.get(queue, {}).get(interface, {})
        self.emit(name, Timestamp=f"{time.time():.6f}", Queue=queue, MemberName=member_name or state.get("MemberName", interface), Interface=interface,
                  StateInterface=interface, Membership="dynamic", Penalty=state.get("Penalty", "0"), CallsTaken="0",
                  LastCall="0", LastPause="0", LoginTime=state.get("LoginTime", str(int(time.time()))), InCall="0",
                  Status="1", Paused=state.get("Paused", "0"), PausedReason=state.get("PausedReason", ""), Ringinuse="0",
                  Wrapuptime="0")

    def _action_queuestatus(self, session, action, action_id):
        """As app_queue's manager_queues_status: per queue its QueueParams, QueueMember for
        each member and QueueEntry for each caller waiting, then QueueStatusComplete; no
        Privilege or Timestamp headers (the list is written straight to the asking session).
        Every queue is listed, members or not (queue_params: those of queues.conf; else the
        ones with members or callers). The emulator's calls are emulated at once, so no
        member is InCall, and the counters the hotline never reads are 0."""
        session.send(message(Response="Success", ActionID=action_id, EventList="start", Message="Queue status will follow"))
        count = 0
        now = time.time()
        for queue in sorted(set(self.queue_members) | set(self.queue_entries) | set(self.queue_params)):
            members = self.queue_members.get(queue, {})
            entries = list(self.queue_entries.get(queue, {}).items())
            strategy, weight = self.queue_params.get(queue, ("rrmemory", 0))
            session.send(message(Event="QueueParams", Queue=queue, Max="0", Strategy=strategy, Calls=str(len(entries)),
                                 Holdtime="0", TalkTime="0", Completed="0", Abandoned="0", ServiceLevel="0",
                                 ServicelevelPerf="0.0", ServicelevelPerf2="0.0", Weight=str(weight), ActionID=action_id))
            count += 1
            for interface, state in members.items():
                session.send(message(Event="QueueMember", Queue=queue, Name=state.get("MemberName", interface),
                                     Location=interface, StateInterface=interface, Membership="dynamic",
                                     Penalty=state.get("Penalty", "0"), CallsTaken="0", LastCall="0", LastPause="0",
                                     LoginTime=state.get("LoginTime", "0"), InCall="0", Status="1", Paused=state["Paused"],
                                     PausedReason=state["PausedReason"], Wrapuptime="0", ActionID=action_id))
                count += 1
            # The caller's channel and whole seconds waited; no Linkedid. Missing caller IDs
            # read "unknown", not "<unknown>" as in channel events.
            for position, (uniqueid, entry) in enumerate(entries, 1):
                session.send(message(Event="QueueEntry", Queue=queue, Position=str(position), Channel=entry["Channel"],
                                     Uniqueid=uniqueid, CallerIDNum=entry["CallerIDNum"] or "unknown",
                                     CallerIDName="unknown", ConnectedLineNum="unknown", ConnectedLineName="unknown",
                                     Wait=str(int(now - entry["joined"])), Priority=entry.get("Priority", "0"),
                                     ActionID=action_id))
                count += 1
        session.send(message(Event="QueueStatusComplete", ActionID=action_id, EventList="Complete", ListItems=str(count)))

    def _action_coreshowchannels(self, session, action, action_id):
        session.send(message(Response="Success", ActionID=action_id, EventList="start", Message="Channels will follow"))
        for uniqueid, channel in sorted(self.channels.items()):
            session.send(message(Event="CoreShowChannel", ActionID=action_id, Uniqueid=uniqueid, **channel))
        session.send(message(Event="CoreShowChannelsComplete", ActionID=action_id, EventList="Complete",
                             ListItems=str(len(self.channels))))


def _penalty(value: str | None) -> int:
    """QueueAdd's Penalty: a number 0 or more; absent or anything else counts as 0."""
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


def _parse(raw: str) -> dict[str, str]:
    action: dict[str, str] = {}
    for line in raw.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            action[key.strip()] = value.strip()
    return action
