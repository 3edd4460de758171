"""One call through the emulated Asterisk, on both of its faces at once.

The caller's channel appears on AMI (Newchannel), is answered and recorded, runs the IVR
over FastAGI, and then does what the rendered dialplan would: with a queue chosen it
joins that queue, the queue offers it to a logged-in member (AgentCalled), the member
answers (AgentConnect), they talk, and the call hangs up — each as the AMI events
asterisk-facts.md lists, stamped with the emulator's clock. A caller may instead take
the queue's callback offer (QueueCallerLeave, then the `queue_callback` AGI).

The callback placer's Originate of `Local/<queue>@hotline-callback-hold/n` is played
too: the placeholder's two halves queue, an operator answers (and gives the halves his
extension as their caller ID), and the other half dials the caller back.

Every channel event carries manager.conf's channelvars (`ChanVariable: NAME=value`,
empty until set), as Asterisk 22 sends them; VarSet goes only to accounts with the
dialplan class.

As app_queue does (queues.conf: ringinuse = no, wrapuptime), the queue offers a caller
only to a member who is neither paused, nor ringing or talking, nor in the wrap-up
after a call; a caller finding none free waits for the first to come free, and
abandons after `patience_seconds`. A caller with a member free is offered at once;
one who waits is offered within a second of a member coming free (app_queue's recheck
and `retry = 1`). Several callers are offered at once to several free members
(autofill = yes).

Skills routing as the rendered dialplan sets it up (`routes`, from
dialplans.render.caller_route): the caller goes to the Asterisk queue for their
language, may be offered only to members whose QueueAdd `Penalty:` is at most their
QUEUE_MAX_PENALTY, which queuerules.conf raises after a wait; among the members free
and allowed at a moment, the lowest penalty is offered first; a ringall queue rings
every such member at once (one AgentCalled each) and the first to answer takes it.
"""
from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
import zoneinfo
from dataclasses import dataclass, field

from dialplans import contract
from dialplans.render import Route
from emulator.agi_channel import CallSpec, Transcript
from emulator.ami_server import REASON_ANSWERED, AmiServer
from emulator.fastagi_client import place_call
from emulator.recordings import write_recorded, write_tone

_channels = itertools.count(1)
CALLBACK_HOLD = "@" + contract.CALLBACK_HOLD_CONTEXT
# An emulator-only AMI action: place a call through the switch as a caller would
# (`hotline call --through-asterisk` against `hotline demo`).
CALL_ACTION = "HotlineEmulatorCall"


@dataclass
class SwitchedCall:
    uniqueid: str
    transcript: Transcript
    queue: str | None
    agent: str | None
    callback: Transcript | None = None  # the queue_callback AGI, for a caller who took the offer
    asterisk_queue: str | None = None
    rung: list[str] = field(default_factory=list)  # the members offered the caller (AgentCalled)
    offered_after: float | None = None  # seconds from joining the queue to the first offer


@dataclass
class _Channel:
    """One channel's identity and variables, as its AMI events show them."""
    name: str
    uniqueid: str
    linkedid: str
    variables: dict[str, str] = field(default_factory=dict)
    caller_id: str = "<unknown>"  # its caller ID number, as every event of the channel says it

    def headers(self) -> dict:
        return {"Channel": self.name, "CallerIDNum": self.caller_id, "Uniqueid": self.uniqueid, "Linkedid": self.linkedid,
                "ChanVariable": [f"{name}={self.variables.get(name, '')}" for name in contract.AMI_CHANNEL_VARIABLES]}

    def event(self, name: str, headers: dict) -> dict:
        """The channel's headers with the event's own; a NewCallerid changes them from then on."""
        if name == "NewCallerid":
            self.caller_id = headers["CallerIDNum"]
        return {**self.headers(), **headers}


class Switch:
    def __init__(self, ami: AmiServer, queue_prefix: str = "hotline-", ring_seconds: float = 3, talk_seconds: float = 95,
                 prompt_ms=None, clock=time.time, wrapup_seconds: float = 0, patience_seconds: float = 30,
                 recordings_dir: str = "/var/spool/asterisk/monitor/hotline", timezone: str = "Asia/Shanghai",
                 callback_offer_after: float = 60, write_recordings: bool = False, routes=None):
        self.ami = ami
        self.queue_prefix = queue_prefix
        self.ring_seconds = ring_seconds
        self.talk_seconds = talk_seconds
        self.wrapup_seconds = wrapup_seconds  # the queues' wrapuptime
        self.patience_seconds = patience_seconds  # how long a caller waits in the queue for a free member
        self.prompt_ms = prompt_ms
        self.clock = clock  # seconds since the epoch, as AMI's Timestamp header
        self.recordings_dir = recordings_dir
        # Leave a short WAV where Asterisk would record (the demo: its console plays them);
        # tests of the events alone need no files, least of all in /var/spool.
        self.write_recordings = write_recordings
        self.timezone = zoneinfo.ZoneInfo(timezone)
        self.callback_offer_after = callback_offer_after
        # (menu queue, caller language) -> Route; None: hotline-<queue>, no penalties.
        self.routes = routes or (lambda queue, language: Route(queue_prefix + queue, [], False))
        ami.on_originate = self._originated
        # Interface -> when (on the emulator's clock) its last queue call and wrap-up end.
        # Calls are emulated at once but stamped over minutes: a later call must see them.
        self._busy_until: dict[str, float] = {}
        self._offering = threading.Lock()  # calls run on several threads (the demo's)

    def _offer(self, route: Route, joined: float) -> tuple[list[str], float] | None:
        """The members to offer a caller who joined at `joined` (one, or with ringall every
        one rung at once) and how long after joining; the first of them answers and is
        then busy with this call. None if nobody is free and allowed within the caller's patience."""
        with self._offering:
            candidates = []  # (when free and allowed, penalty, order, interface)
            members = self.ami.queue_members.get(route.asterisk_queue, {})
            for order, (interface, state) in enumerate(members.items()):
                if state["Paused"] != "0":
                    continue
                allowed = _allowed_after(route.steps, int(state.get("Penalty", "0")))
                if allowed is None:
                    continue
                free = self._busy_until.get(interface, joined)
                candidates.append((max(joined + allowed, free), int(state.get("Penalty", "0")), order, interface))
            if not candidates:
                return None
            first = min(at for at, *_ in candidates)
            if first - joined > self.patience_seconds:
                return None
            ready = sorted((penalty, order, interface) for at, penalty, order, interface in candidates if at <= first)
            best = [interface for penalty, _, interface in ready if penalty == ready[0][0]]
            rung = best if route.ringall else best[:1]
            # Free at once: rung at once; otherwise within the queue's one-second recheck.
            offered = first if first <= joined else first + 1
            for interface in rung:
                self._busy_until[interface] = offered + self.ring_seconds
            self._busy_until[rung[0]] = offered + self.ring_seconds + self.talk_seconds + self.wrapup_seconds
            return rung, offered - joined

    def call(self, spec: CallSpec, answer: bool = True, take_callback: bool = False,
             wait_in_queue: float | None = None, hold: threading.Event | None = None) -> SwitchedCall:
        """take_callback: nobody answers, and the caller presses 1 at the callback offer.
        wait_in_queue: nobody answers; the caller waits in the queue in real time (QueueStatus
        lists it meanwhile) for up to this many seconds, or until `hold` is set, then
        abandons. Every other wait is emulated at once, its events stamped over it."""
        uniqueid = spec.uniqueid or f"{int(time.time())}.{next(_channels)}"
        spec.uniqueid = uniqueid
        clock = self.clock()
        caller = _Channel(f"PJSIP/hotline-trunk-{uniqueid.split('.')[-1].zfill(8)}", uniqueid, uniqueid,
                          caller_id=spec.caller or "<unknown>")

        def emit(name: str, after: float = 0.0, channel: _Channel = caller, **headers) -> None:
            nonlocal clock
            clock += after
            self.ami.emit(name, Timestamp=f"{clock:.6f}", **channel.event(name, headers))

        def emit_abandon(waited: float, asterisk_queue: str, position: str, count: str, original: str = "1") -> None:
            """A hang-up in the queue: Asterisk 22 reports the abandon, then the caller leaving
            (Position: where it was, Count: callers left), before the channel's Hangup."""
            emit("QueueCallerAbandon", after=waited, Queue=asterisk_queue, Position=position, OriginalPosition=original,
                 HoldTime=str(int(waited)))
            emit("QueueCallerLeave", Queue=asterisk_queue, Position=position, Count=count)

        def set_variable(name: str, value: str, inherit: str = "") -> None:
            caller.variables[name] = value
            emit("VarSet", Variable=inherit + name, Value=value)

        emit("Newchannel", ChannelState="0", ChannelStateDesc="Down", CallerIDNum=spec.caller or "<unknown>",
             CallerIDName="<unknown>", Context=contract.TRUNK_CONTEXT, Exten=spec.did, Priority="1")
        self.ami.channels[uniqueid] = {"Linkedid": uniqueid, "Channel": caller.name, "CallerIDNum": spec.caller, "Duration": "0:00:00"}
        emit("Newstate", ChannelState="6", ChannelStateDesc="Up", CallerIDNum=spec.caller or "<unknown>")
        # [hotline-inbound]: Set(__HOTLINE_RECORDING=<dir>/<day>/<uniqueid>.wav), day by app.timezone.
        day = dt.datetime.fromtimestamp(clock, self.timezone).strftime("%Y%m%d")
        recording = f"{self.recordings_dir}/{day}/{uniqueid}.wav"
        set_variable(contract.RECORDING, recording, inherit="__")
        emit("MixMonitorStart")
        started = time.monotonic()
        transcript = place_call(spec, **({"prompt_ms": self.prompt_ms} if self.prompt_ms else {}))
        ivr_seconds = time.monotonic() - started + sum(ms for ms, kind, _ in transcript.events[-1:]) / 1000
        variables = transcript.variables
        for name, value in variables.items():
            set_variable(name, value)
        queue = variables.get(contract.QUEUE) if variables.get(contract.NEXT) == contract.NEXT_QUEUE else None
        agent = callback = asterisk_queue = None
        rung: list[str] = []
        offered_after = None
        if transcript.agi_status == "SUCCESS" and queue:
            route = self.routes(queue, variables.get(contract.LANG))
            asterisk_queue = route.asterisk_queue
            # Behind the callers waiting in real time (the others are emulated at once).
            position = str(len(self.ami.queue_entries.get(asterisk_queue, {})) + 1)
            emit("QueueCallerJoin", after=ivr_seconds, Queue=asterisk_queue, Position=position, Count=position)
            offer = self._offer(route, clock) if answer and not take_callback and wait_in_queue is None else None
            if take_callback:
                # The caller pressed 1 at the offer: the queue lets go (QueueCallerLeave, not
                # an abandon) and the channel goes on in hotline-queue-exit.
                emit("QueueCallerLeave", after=self.callback_offer_after, Queue=asterisk_queue, Position="1", Count="0")
                callback = self._queue_callback(spec, caller, queue)
                for name, value in callback.variables.items():
                    set_variable(name, value)
                if callback.variables.get(contract.CALLBACK_BOOKED) != "1":  # back into the queue, then gives up
                    emit("QueueCallerJoin", Queue=asterisk_queue, Position="1", Count="1")
                    emit_abandon(30, asterisk_queue, "1", "0")
            elif offer is not None:
                rung, waited = offer
                offered_after = waited
                agent, agent_channel = rung[0], ""
                for index, member in enumerate(rung):  # ringall: every one at once
                    channel = f"{member}-{next(_channels):08x}"
                    agent_channel = agent_channel or channel
                    emit("AgentCalled", after=waited if index == 0 else 0, Queue=asterisk_queue, Interface=member,
                         MemberName=member, DestChannel=channel, CallerIDNum=spec.caller or "<unknown>")
                # Asterisk 22 lets the caller out of the queue first, then reports the connect.
                emit("QueueCallerLeave", after=self.ring_seconds, Queue=asterisk_queue, Position="1", Count="0")
                emit("AgentConnect", Queue=asterisk_queue, Interface=agent, MemberName=agent,
                     DestChannel=agent_channel, HoldTime=str(int(waited + self.ring_seconds)),
                     RingTime=str(int(self.ring_seconds)))
                emit("AgentComplete", after=self.talk_seconds, Queue=asterisk_queue, Interface=agent, MemberName=agent,
                     DestChannel=agent_channel, HoldTime=str(int(waited + self.ring_seconds)),
                     TalkTime=str(int(self.talk_seconds)), Reason="caller")
            elif wait_in_queue is not None:
                waited, left_at, behind = self._wait_in_queue(asterisk_queue, caller, spec.caller, route.priority,
                                                              wait_in_queue, hold or threading.Event())
                emit_abandon(waited, asterisk_queue, left_at, behind, original=position)
            else:
                emit_abandon(int(self.patience_seconds), asterisk_queue, "1", "0")
        if self.write_recordings:  # closed by the hangup, as MixMonitor's file is
            write_recorded(transcript)
            write_tone(recording, 2.0)
        emit("Hangup", after=1, Cause="16", **{"Cause-txt": "Normal Clearing"})
        self.ami.channels.pop(uniqueid, None)
        return SwitchedCall(uniqueid, transcript, queue, agent, callback, asterisk_queue, rung, offered_after)

    def _wait_in_queue(self, asterisk_queue: str, caller: _Channel, number: str | None, priority: int, seconds: float,
                       hold: threading.Event) -> tuple[float, str, str]:
        """Wait in the queue in real time, listed by QueueStatus meanwhile: seconds waited,
        the position left from and how many callers stay behind."""
        joined = time.time()
        entries = self.ami.queue_entries.setdefault(asterisk_queue, {})
        entries[caller.uniqueid] = {"Channel": caller.name, "CallerIDNum": number or "unknown", "joined": joined,
                                    "Priority": str(priority)}
        try:
            hold.wait(seconds)
        finally:
            position = list(entries).index(caller.uniqueid) + 1
            entries.pop(caller.uniqueid, None)
        return time.time() - joined, str(position), str(len(entries))

    def _queue_callback(self, spec: CallSpec, caller: _Channel, queue: str) -> Transcript:
        """[hotline-queue-exit]: QUEUEPOSITION kept, then AGI(.../queue_callback)."""
        variables = {**caller.variables, contract.QUEUE: queue, "QUEUEPOSITION": "1"}
        callback_spec = CallSpec(caller=spec.caller, did=spec.did, script=contract.QUEUE_CALLBACK_SCRIPT, host=spec.host, port=spec.port,
                                 uniqueid=caller.uniqueid, variables=variables)
        return place_call(callback_spec, **({"prompt_ms": self.prompt_ms} if self.prompt_ms else {}))

    # the callback placer's placeholder --------------------------------------------------------

    def _originated(self, action: dict[str, str], uniqueid: str, reason: int, respond) -> bool:
        """Local/<queue>@hotline-callback-hold/n: the placeholder queues; when an operator
        answers, the Originate is answered and the other half dials the caller back."""
        target = action.get("Channel", "")
        if not (target.startswith("Local/") and CALLBACK_HOLD in target):
            return False
        queue = target.removeprefix("Local/").split("@", 1)[0]
        variables = dict(item.split("=", 1) for item in action.get("Variable", "").split(",") if "=" in item)
        number = action.get("CallerID", "").rpartition("<")[2].rstrip(">") or "<unknown>"
        clock = self.clock()
        local = f"Local/{queue}{CALLBACK_HOLD}-{next(_channels):08x}"
        dialler = _Channel(local + ";1", uniqueid, uniqueid)  # runs hotline-callback-dial once answered
        holder = _Channel(local + ";2", f"{uniqueid}1", uniqueid)  # waits in the queue

        def emit(name: str, channel: _Channel, after: float = 0.0, **headers) -> None:
            nonlocal clock
            clock += after
            self.ami.emit(name, Timestamp=f"{clock:.6f}", **channel.event(name, headers))

        for half in (dialler, holder):
            # Caller ID is not in Newchannel for an originated Local channel; it comes next.
            emit("Newchannel", half, ChannelState="0", ChannelStateDesc="Down", CallerIDNum="<unknown>",
                 CallerIDName="<unknown>", Context=CALLBACK_HOLD[1:], Exten=queue, Priority="1")
        for half in (dialler, holder):
            half.variables.update(variables)  # Originate's Variable: reaches both halves
            emit("NewCallerid", half, CallerIDNum=number, CallerIDName="<unknown>")
        route = self.routes(queue, variables.get(contract.LANG))
        asterisk_queue = route.asterisk_queue
        position = variables.get(contract.CALLBACK_POSITION) or "1"
        emit("QueueCallerJoin", holder, Queue=asterisk_queue, Position=position, Count=position)
        if reason != REASON_ANSWERED:
            emit("QueueCallerAbandon", holder, after=30, Queue=asterisk_queue, Position=position,
                 OriginalPosition=position, HoldTime="30")
            emit("QueueCallerLeave", holder, Queue=asterisk_queue, Position=position, Count="0")
            for half in (holder, dialler):
                emit("Hangup", half, Cause="16", **{"Cause-txt": "Normal Clearing"})
            respond()
            return True
        # The first member free to take it (app_queue's choice); the demo's Originate is
        # answered even when all are busy, so the first logged in stands in then.
        members = list(self.ami.queue_members.get(asterisk_queue, {}))
        rung, waited = self._offer(route, clock) or ([members[0] if members else "PJSIP/1001"], 1)
        agent = rung[0]
        extension = agent.split("/", 1)[1]
        operator = _Channel(f"{agent}-{next(_channels):08x}", f"{uniqueid}2", uniqueid, caller_id=extension)
        emit("AgentCalled", holder, after=waited, Queue=asterisk_queue, Interface=agent, MemberName=agent,
             DestChannel=operator.name, CallerIDNum=number)
        # As Asterisk 22.10 orders them: the operator's answer as the holder's connected
        # line, the queue letting go, the Originate answered, the connect, and then the
        # operator's extension as the dialling half's caller ID.
        emit("NewConnectedLine", holder, after=self.ring_seconds, ConnectedLineNum=extension, ConnectedLineName="<unknown>")
        emit("QueueCallerLeave", holder, Queue=asterisk_queue, Position="1", Count="0")
        respond()
        emit("AgentConnect", holder, Queue=asterisk_queue, Interface=agent, MemberName=agent,
             DestChannel=operator.name, HoldTime=str(int(waited + self.ring_seconds)), RingTime=str(int(self.ring_seconds)))
        emit("NewCallerid", dialler, CallerIDNum=extension, CallerIDName="<unknown>")
        # [hotline-callback-dial]: Dial(PJSIP/<number>@hotline-trunk).
        customer = _Channel(f"PJSIP/hotline-trunk-{next(_channels):08x}", f"{uniqueid}3", uniqueid, caller_id=extension)
        emit("Newchannel", customer, ChannelState="0", ChannelStateDesc="Down", CallerIDNum=extension,
             CallerIDName="<unknown>", Context=contract.TRUNK_CONTEXT, Exten="s", Priority="1")
        # The dialling half's events say where it runs, as Asterisk's do (the placer reads it).
        dialling = {"Context": contract.CALLBACK_DIAL_CONTEXT, "Exten": "s", "Priority": "1"}
        emit("DialBegin", dialler, **dialling, DestChannel=customer.name, DialString=f"{number}@{contract.TRUNK_CONTEXT}")
        emit("Newstate", customer, after=5, ChannelState="6", ChannelStateDesc="Up", CallerIDNum=number)
        emit("DialEnd", dialler, **dialling, DestChannel=customer.name, DialStatus="ANSWER")
        emit("AgentComplete", holder, after=self.talk_seconds, Queue=asterisk_queue, Interface=agent, MemberName=agent,
             DestChannel=operator.name, HoldTime=str(int(waited + self.ring_seconds)),
             TalkTime=str(int(self.talk_seconds)), Reason="caller")
        for channel in (customer, dialler, holder, operator):
            emit("Hangup", channel, Cause="16", **{"Cause-txt": "Normal Clearing"})
        return True


def _allowed_after(steps: list[tuple[int, int]], penalty: int) -> float | None:
    """Seconds after joining from which a member with `penalty` may be offered the caller:
    the first step whose QUEUE_MAX_PENALTY reaches it (no steps: no limit); None: never."""
    if not steps:
        return 0
    return next((at for at, most in steps if penalty <= most), None)
