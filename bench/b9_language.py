"""Routing by language under load, on the emulator's queue, beside the same run without it.

Three operators, one per language (1001 native Mandarin; 1002 native Cantonese, fluent
Mandarin; 1003 native Hakka, fluent Mandarin), signed in with the desk's penalties;
callers at 4/s for 120 s (480), 60 % Mandarin, 25 % Cantonese, 15 % Hakka (seeded), to
the general queue, each talking 4 s once answered (1 s of ringing, no wrap-up), each
giving up after `patience` seconds without an offer. Routed as the rendered dialplan
routes them (dialplans.render.caller_route, defaults.toml's 20 s waits) through
the emulated app_queue (emulator/switch.py: penalties, the rule after the wait,
autofill), on an emulated clock: 120 s of calls take well under a second.

Figures: the share answered within 15 s (GB/T 33358-2016's service level); the wait from
joining to the first offer, p99, for callers who joined with an operator free (any
operator), and with one free who could take them at once (a native or fluent speaker of
their language; anyone for Mandarin), target ≤ 1 s; and the language match rate: the
share of answered callers whose operator speaks their language natively or fluently.
The issue's load (16 Erlang on 3 operators, 4/s) is far beyond what three people can
answer: the queues fill, most callers give up and those answered have waited past every
language's wait, under both routings alike. The same is run at 0.4 calls/s (about two
thirds of what they can answer), where routing by language shows.
"""
from __future__ import annotations

import random

P99_TARGET_S = 1.0
MIX = (("cmn", 0.60), ("yue", 0.25), ("hak", 0.15))
OPERATORS = {"1001": {"cmn": "native"}, "1002": {"yue": "native", "cmn": "fluent"},
             "1003": {"hak": "native", "cmn": "fluent"}}


def run(rates: tuple[float, ...] = (4.0, 0.4), seconds: float = 120.0, talk: float = 4.0, patience: float = 60.0,
        seed: int = 17) -> dict:
    results = {"seconds": seconds, "talk_s": talk, "patience_s": patience, "mix": dict(MIX), "loads": []}
    for rate in rates:
        rng = random.Random(seed)
        callers = [(n / rate, rng.choices([code for code, _ in MIX], [share for _, share in MIX])[0])
                   for n in range(int(rate * seconds))]
        results["loads"].append({"rate_per_s": rate, "callers": len(callers),
                                 **{name: _one_run(callers, routing, talk, patience)
                                    for name, routing in (("by_language", True), ("plain", False))}})
    return results


def _one_run(callers: list[tuple[float, str]], routing: bool, talk: float, patience: float) -> dict:
    from config import load_settings
    from db.languages import penalty
    from db.models import Fluency, Language, OperatorLanguage, User
    from emulator.ami_server import AmiServer
    from emulator.switch import Switch
    from dialplans.render import asterisk_queues, caller_route
    from ivr.menu import load_menu

    settings = load_settings(environ={}, overrides={"asterisk.language_routing": routing})
    menu = load_menu()
    ami = AmiServer()  # never started: only its queue members are used
    switch = Switch(ami, ring_seconds=1, talk_seconds=talk, wrapup_seconds=0, patience_seconds=patience,
                    routes=lambda queue, language: caller_route(menu, settings.asterisk, queue, language))
    users = {extension: User(username=extension, languages=[OperatorLanguage(language=Language(code), fluency=Fluency(level))
                                                            for code, level in spoken.items()])
             for extension, spoken in OPERATORS.items()}
    for queue in asterisk_queues(menu, settings.asterisk):
        ami.queue_members[queue.asterisk_name] = {
            f"PJSIP/{extension}": {"Paused": "0", "PausedReason": "", "Penalty": str(penalty(user, queue.language))}
            for extension, user in users.items()}
    speaks = {f"PJSIP/{extension}": spoken for extension, spoken in OPERATORS.items()}
    answered_in_15 = matched = answered = 0
    waits_any_free, waits_able_free = [], []
    try:
        for joined, language in callers:
            route = caller_route(menu, settings.asterisk, "general", language)
            members = ami.queue_members[route.asterisk_queue]
            free = [m for m in members if switch._busy_until.get(m, joined) <= joined]
            # Who may take this caller at once: allowed by the first QUEUE_MAX_PENALTY (no limit: anyone).
            first_limit = route.steps[0][1] if route.steps else None
            able = [m for m in free if first_limit is None or int(members[m]["Penalty"]) <= first_limit]
            offer = switch._offer(route, joined)
            if offer is None:
                continue
            rung, waited = offer
            answered += 1
            answered_in_15 += waited + switch.ring_seconds <= 15
            matched += speaks[rung[0]].get(language) in ("native", "fluent")
            if free:
                waits_any_free.append(waited)
            if able:
                waits_able_free.append(waited)
    finally:
        ami._listener.close()
    return {
        "answered": answered,
        "answered_within_15s_share": answered_in_15 / len(callers),
        "language_match_rate": matched / answered if answered else 0.0,
        "any_free": _p99(waits_any_free),
        "able_free": _p99(waits_able_free),
    }


def _p99(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"callers": len(ordered), "p99_s": ordered[max(0, int(len(ordered) * 0.99) - 1)] if ordered else None}


def report(results: dict) -> str:
    def row(label: str, run: dict) -> str:
        def p99(figure: dict) -> str:
            return "—" if figure["p99_s"] is None else f"{figure['p99_s']:.1f} s ({figure['callers']})"
        return (f"  {label:<22} {run['answered_within_15s_share']:>8.1%} {p99(run['able_free']):>16} "
                f"{p99(run['any_free']):>16} {run['language_match_rate']:>8.1%}")

    lines = [f"B9 routing by language: 3 operators (one per language), callers for {results['seconds']:g} s, "
             f"60/25/15 % cmn/yue/hak, {results['talk_s']:g} s talks, patience {results['patience_s']:g} s (emulated clock)",
             f"  {'':<22} {'≤15 s':>8} {'p99 offer, able':>16} {'p99 offer, any':>16} {'match':>8}"]
    for load in results["loads"]:
        lines.append(f"  {load['callers']} callers at {load['rate_per_s']:g}/s")
        lines.append(row("by language", load["by_language"]))
        lines.append(row("plain (baseline)", load["plain"]))
    lines.append(f"  p99 offer, able: callers who joined with an operator free who could take them at once "
                 f"(target ≤ {P99_TARGET_S:g} s); any: with any operator free (callers in brackets)")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
