"""B2: AMI events into call state, beside a bare parser, in the same run.

Both take the same 100k-event burst in AMI wire format (10,000 calls of 10 events:
Newchannel, 5 VarSet, QueueCallerJoin, AgentConnect, AgentComplete, Hangup; the
operator's Interface on AgentConnect and AgentComplete, as Asterisk sends them).
- bare: asterisk-ami's own parser, packet by packet, and nothing else;
- ours: the same parser, then the call tracker, writing every call row and the
  operator's states (on call, wrap-up) to SQLite.
Targets: ≥ 50,000 events/s into call state; the 100k burst drained in < 2 s.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from asterisk.ami import Event

EVENTS_TARGET = 50_000
BURST_TARGET_S = 2.0


def burst(calls: int = 10_000) -> str:
    from emulator.ami_server import message

    parts = []
    for n in range(calls):
        base = dict(Uniqueid=f"{n}.1", Linkedid=f"{n}.1", Timestamp=f"{1795750000 + n}.0")
        parts.append(message(Event="Newchannel", Channel="PJSIP/t", CallerIDNum="13912345678",
                             Context="hotline-trunk", Exten="4008300762", **base))
        parts += [message(Event="VarSet", Variable=f"V{k}", Value="x", **base) for k in range(5)]
        parts += [message(Event="QueueCallerJoin", Queue="hotline-general", **base),
                  message(Event="AgentConnect", Interface="PJSIP/1001", HoldTime="3", **base),
                  message(Event="AgentComplete", Interface="PJSIP/1001", TalkTime="60", **base),
                  message(Event="Hangup", Cause="16", **base)]
    return "".join(parts)


def packets(text: str) -> list[str]:
    return [pack for pack in text.split("\r\n\r\n") if pack]


def bare(text: str) -> float:
    started = time.perf_counter()
    for pack in packets(text):
        Event.read(pack)
    return time.perf_counter() - started


def ours(text: str, database: str) -> float:
    from db.session import make_engine, make_session_factory
    from telephony.ami import AmiEvent
    from telephony.call_events import CallTracker

    tracker = CallTracker(make_session_factory(make_engine(database)))
    started = time.perf_counter()
    for index, pack in enumerate(packets(text), start=1):
        event = Event.read(pack)
        tracker.apply(AmiEvent(event.name, dict(event.keys)))
        if index % 5000 == 0:  # the service writes in batches of up to 5,000 events
            tracker.flush()
    tracker.flush()
    return time.perf_counter() - started


def run(calls: int = 10_000) -> dict:
    from bench.b1_ivr import make_database

    folder = Path(tempfile.mkdtemp(prefix="hotline-b2-"))
    try:
        database = make_database(folder)
        text = burst(calls)
        count = len(packets(text))
        bare_s, ours_s = bare(text), ours(text, database)
        return {
            "events": count,
            "bare_s": round(bare_s, 3), "bare_events_per_s": round(count / bare_s),
            "ours_s": round(ours_s, 3), "ours_events_per_s": round(count / ours_s),
            "ratio": round(ours_s / bare_s, 2),
            "events_target_met": count / ours_s >= EVENTS_TARGET,
            "burst_target_met": ours_s < BURST_TARGET_S,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report(results: dict) -> str:
    return "\n".join([
        f"B2 — {results['events']:,} AMI events ({results['events'] // 10:,} calls) into call state",
        "",
        "| run | seconds | events/s |",
        "| --- | --- | --- |",
        f"| bare asterisk-ami parser | {results['bare_s']} | {results['bare_events_per_s']:,} |",
        f"| parser + call tracker + SQLite | {results['ours_s']} | {results['ours_events_per_s']:,} |",
        "",
        f"ours/bare time: {results['ratio']}×; ≥ {EVENTS_TARGET:,} events/s: "
        f"{'met' if results['events_target_met'] else 'NOT met'}; 100k burst < {BURST_TARGET_S} s: "
        f"{'met' if results['burst_target_met'] else 'NOT met'}",
    ])


if __name__ == "__main__":
    results = run()
    print(report(results))
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "b2.json").write_text(json.dumps(results, indent=1))
