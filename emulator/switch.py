"""One call through the emulated Asterisk, on both of its faces at once.

The caller's channel appears on AMI (Newchannel), runs the IVR over FastAGI, and then
does what the rendered dialplan would: with a queue chosen it joins that queue, the
queue offers it to a logged-in member (AgentCalled), the member answers
(AgentConnect), they talk, and the call hangs up — each as the AMI events
asterisk-facts.md lists, stamped with the emulator's clock.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from dialplans import contract
from emulator.agi_channel import CallSpec, Transcript
from emulator.ami_server import AmiServer
from emulator.fastagi_client import place_call

# An emulator-only AMI action: place a call through the switch as a caller would
# (`hotline call --through-asterisk` against `hotline demo`).
CALL_ACTION = "HotlineEmulatorCall"

_channels = itertools.count(1)


@dataclass
class SwitchedCall:
    uniqueid: str
    transcript: Transcript
    queue: str | None
    agent: str | None


class Switch:
    def __init__(self, ami: AmiServer, queue_prefix: str = "hotline-", ring_seconds: float = 3, talk_seconds: float = 95,
                 prompt_ms=None, clock=time.time):
        self.ami = ami
        self.queue_prefix = queue_prefix
        self.ring_seconds = ring_seconds
        self.talk_seconds = talk_seconds
        self.prompt_ms = prompt_ms
        self.clock = clock  # seconds since the epoch, as AMI's Timestamp header

    def call(self, spec: CallSpec, answer: bool = True) -> SwitchedCall:
        uniqueid = spec.uniqueid or f"{int(time.time())}.{next(_channels)}"
        spec.uniqueid = uniqueid
        clock = self.clock()
        channel = f"PJSIP/hotline-trunk-{uniqueid.split('.')[-1].zfill(8)}"
        ids = {"Channel": channel, "Uniqueid": uniqueid, "Linkedid": uniqueid}

        def emit(name: str, after: float = 0.0, **headers) -> None:
            nonlocal clock
            clock += after
            self.ami.emit(name, Timestamp=f"{clock:.6f}", **ids, **headers)

        emit("Newchannel", ChannelState="0", ChannelStateDesc="Down", CallerIDNum=spec.caller or "<unknown>",
             CallerIDName="<unknown>", Context=contract.TRUNK_CONTEXT, Exten=spec.did, Priority="1")
        self.ami.channels[uniqueid] = {"Linkedid": uniqueid, "Channel": channel, "CallerIDNum": spec.caller, "Duration": "0:00:00"}
        started = time.monotonic()
        transcript = place_call(spec, **({"prompt_ms": self.prompt_ms} if self.prompt_ms else {}))
        ivr_seconds = time.monotonic() - started + sum(ms for ms, kind, _ in transcript.events[-1:]) / 1000
        variables = transcript.variables
        for name in (contract.LANG, contract.QUEUE, contract.CATEGORY):
            if name in variables:
                emit("VarSet", Variable=name, Value=variables[name])
        # manager.conf's channelvars: the IVR's choices ride on the caller's channel events.
        chan_vars = {"ChanVariable": [f"{name}={variables.get(name, '')}" for name in contract.SCREEN_POP_VARIABLES]}
        queue = variables.get(contract.QUEUE) if variables.get(contract.NEXT) == contract.NEXT_QUEUE else None
        agent = None
        if transcript.agi_status == "SUCCESS" and queue:
            asterisk_queue = self.queue_prefix + queue
            emit("QueueCallerJoin", after=ivr_seconds, Queue=asterisk_queue, Position="1", Count="1", **chan_vars)
            members = [i for i, state in self.ami.queue_members.get(asterisk_queue, {}).items() if state["Paused"] == "0"]
            if answer and members:
                agent = members[0]
                agent_channel = f"{agent}-{next(_channels):08x}"
                emit("AgentCalled", after=1, Queue=asterisk_queue, Interface=agent, MemberName=agent, DestChannel=agent_channel,
                     CallerIDNum=spec.caller or "<unknown>", **chan_vars)
                emit("AgentConnect", after=self.ring_seconds, Queue=asterisk_queue, Interface=agent, MemberName=agent,
                     DestChannel=agent_channel, HoldTime=str(int(1 + self.ring_seconds)), RingTime=str(int(self.ring_seconds)))
                emit("QueueCallerLeave", Queue=asterisk_queue, Position="1", Count="0")
                emit("AgentComplete", after=self.talk_seconds, Queue=asterisk_queue, Interface=agent,
                     TalkTime=str(int(self.talk_seconds)), Reason="caller")
            else:
                emit("QueueCallerAbandon", after=30, Queue=asterisk_queue, Position="1", OriginalPosition="1", HoldTime="30")
        emit("Hangup", after=1, Cause="16", **{"Cause-txt": "Normal Clearing"})
        self.ami.channels.pop(uniqueid, None)
        return SwitchedCall(uniqueid, transcript, queue, agent)
