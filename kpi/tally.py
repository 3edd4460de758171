"""What the KPI formulas count: a tally of calls, operator time and IVR walks, mergeable.

A tally keeps counts and per-second histograms, never a ratio, so that the tallies of
days (the daily rollup) add up to exactly the tally of a month: a ratio, an average or a
90th percentile is taken only at the end, by kpi/formulas.py, from the merged tally.
The thresholds a supervisor may configure (service level X s, short abandons) are read
from the histograms then too, so a rollup never has to be rebuilt when they change.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

HOURS = 24
# The IVR step a caller's key was refused at: the next step plays this prompt (ivr/engine.py).
INVALID_PROMPT = "invalid"
HANGUP_KEY = "hangup"

COUNTER_FIELDS = ("ivr_abandons", "answer_waits", "queue_abandons", "handle_times",
                  "nodes_reached", "node_hangups", "invalid_keys")
NUMBER_FIELDS = ("inbound", "offered", "talk_seconds", "wrap_seconds", "signed_in_seconds",
                 "paused_seconds", "busy_seconds", "fcr_calls", "fcr_resolved", "language_judged",
                 "language_matched")


@dataclasses.dataclass
class Tally:
    inbound: int = 0  # inbound calls that started (each one meets the IVR first)
    ivr_abandons: Counter = dataclasses.field(default_factory=Counter)  # seconds in the IVR -> calls
    offered: int = 0  # inbound calls that entered a queue
    answer_waits: Counter = dataclasses.field(default_factory=Counter)  # seconds queued -> calls answered
    queue_abandons: Counter = dataclasses.field(default_factory=Counter)  # seconds queued -> calls abandoned
    handle_times: Counter = dataclasses.field(default_factory=Counter)  # talk + wrap-up seconds -> calls
    talk_seconds: int = 0
    wrap_seconds: int = 0
    signed_in_seconds: int = 0  # operators' time in any state but logged out
    paused_seconds: int = 0
    busy_seconds: int = 0  # on a call or in wrap-up
    arrivals: list[int] = dataclasses.field(default_factory=lambda: [0] * HOURS)  # by local hour
    fcr_calls: int = 0  # answered calls of a known caller about a known category
    fcr_resolved: int = 0  # ... not followed by another call about it within the window
    language_judged: int = 0  # answered calls whose caller's language and operator are known
    language_matched: int = 0  # ... answered by an operator who speaks it natively or fluently
    nodes_reached: Counter = dataclasses.field(default_factory=Counter)  # menu node -> IVR passes
    node_hangups: Counter = dataclasses.field(default_factory=Counter)  # menu node -> hang-ups there
    invalid_keys: Counter = dataclasses.field(default_factory=Counter)  # "node key" -> refusals

    def add(self, other: "Tally") -> "Tally":
        for name in NUMBER_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in COUNTER_FIELDS:
            getattr(self, name).update(getattr(other, name))
        self.arrivals = [a + b for a, b in zip(self.arrivals, other.arrivals)]
        return self

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (histogram keys become strings); from_json reads it back unchanged."""
        data: dict[str, Any] = {name: getattr(self, name) for name in NUMBER_FIELDS}
        for name in COUNTER_FIELDS:
            data[name] = {str(key): count for key, count in sorted(getattr(self, name).items()) if count}
        data["arrivals"] = list(self.arrivals)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Tally":
        tally = cls(**{name: int(data.get(name, 0)) for name in NUMBER_FIELDS})
        for name in COUNTER_FIELDS:
            raw = data.get(name) or {}
            numeric = name in ("ivr_abandons", "answer_waits", "queue_abandons", "handle_times")
            setattr(tally, name, Counter({(int(key) if numeric else key): int(count) for key, count in raw.items()}))
        arrivals = list(data.get("arrivals") or [])
        tally.arrivals = [int(x) for x in arrivals] + [0] * (HOURS - len(arrivals))
        return tally


def merged(tallies) -> Tally:
    total = Tally()
    for tally in tallies:
        total.add(tally)
    return total


def add_walk(tally: Tally, steps: list[dict[str, Any]]) -> None:
    """One IVR pass: the nodes it reached (once each), where it hung up, the keys refused."""
    tally.nodes_reached.update({step.get("node") for step in steps if step.get("node")})
    for index, step in enumerate(steps):
        if step.get("key") == HANGUP_KEY and step.get("node"):
            tally.node_hangups[step["node"]] += 1
        following = steps[index + 1] if index + 1 < len(steps) else None
        if following is not None and following.get("prompt") == INVALID_PROMPT and step.get("key"):
            tally.invalid_keys[f"{step.get('node')} {step['key']}"] += 1
