"""Every KPI formula of the supervisors' reports (统计报表), each written once, here.

The formulas read a tally (kpi/tally.py: counts and per-second histograms of calls,
operator time and IVR walks, gathered by kpi/facts.py from the raw rows or added up
from the daily rollup) and return a figure, or None where the figure is undefined (no
calls to divide by): the page shows "—", never a made-up 0 %. Ratios are fractions
from 0 to 1. Only inbound calls count; a call belongs to the local day (app.timezone)
it started on. The README's "KPI reports" section says the same in words.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
import statistics
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from db.models import SurveyStatus, TaskStatus
from kpi import facts
from kpi.tally import Tally

# GB/T 33358-2016 (呼叫中心服务水平): the share of queued calls answered within 15 seconds.
STANDARD_SECONDS = 15
HANDLE_TIME_PERCENTILE = 0.9
SATISFIED_RATINGS = (4, 5)  # CSAT counts a 4 or a 5 of five as satisfied


@dataclasses.dataclass(frozen=True)
class KpiSettings:
    """The thresholds a supervisor may configure ([kpi] in the settings)."""

    target_seconds: int = 20  # the second service level, "answered within X s"
    short_abandon_seconds: int = 5  # a hang-up sooner than this is a misdial, not an abandon

    @classmethod
    def of(cls, settings: Any) -> "KpiSettings":
        section = getattr(settings, "kpi", None)
        if section is None:
            return cls()
        return cls(int(section.service_level_seconds), int(section.short_abandon_seconds))


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole > 0 else None


def _count(histogram, predicate) -> int:
    return sum(count for seconds, count in histogram.items() if predicate(seconds))


def answered_in_queue(tally: Tally) -> int:
    """Queued calls an operator answered."""
    return sum(tally.answer_waits.values())


def handled(tally: Tally) -> int:
    """Calls handled: answered inbound calls (queued or not), each with its talk and wrap-up."""
    return sum(tally.handle_times.values())


def short_queue_abandons(tally: Tally, short_seconds: int) -> int:
    """Callers who left the queue within `short_seconds`: excluded from both sides of the
    service level and the queue abandonment rate (a misdial, or a caller who changed their mind)."""
    return _count(tally.queue_abandons, lambda s: s < short_seconds)


def service_level(tally: Tally, within_seconds: int, short_seconds: int) -> float | None:
    """Share of queued calls answered within `within_seconds` of joining the queue.

    answered with wait ≤ S  /  (calls offered to the queues − abandons under the short threshold)

    At S = 15 s this is GB/T 33358-2016's service level; a call that left the queue for
    a callback or voicemail counts as offered and not answered.
    """
    quick = _count(tally.answer_waits, lambda s: s <= within_seconds)
    return _share(quick, tally.offered - short_queue_abandons(tally, short_seconds))


def queue_abandonment_rate(tally: Tally, short_seconds: int) -> float | None:
    """Share of queued calls whose caller hung up waiting.

    abandons in queue with wait ≥ short  /  (offered − abandons in queue with wait < short)
    """
    long = _count(tally.queue_abandons, lambda s: s >= short_seconds)
    return _share(long, tally.offered - short_queue_abandons(tally, short_seconds))


def ivr_abandonment_rate(tally: Tally, short_seconds: int) -> float | None:
    """Share of inbound calls that hung up in the IVR, before reaching a queue or a service.

    IVR abandons lasting ≥ short  /  (inbound calls − IVR abandons lasting < short)
    """
    short = _count(tally.ivr_abandons, lambda s: s < short_seconds)
    long = _count(tally.ivr_abandons, lambda s: s >= short_seconds)
    return _share(long, tally.inbound - short)


def average_speed_of_answer(tally: Tally) -> float | None:
    """Average seconds a queued call waited before it was answered (ASA).

    Σ wait of the answered queued calls  /  answered queued calls
    """
    total = sum(seconds * count for seconds, count in tally.answer_waits.items())
    return _share(total, answered_in_queue(tally))


def average_handle_time(tally: Tally) -> float | None:
    """Average seconds an operator spent on a call: talk (answer to hang-up) plus the wrap-up after it (AHT).

    Σ (talk + wrap-up)  /  calls handled
    """
    total = sum(seconds * count for seconds, count in tally.handle_times.items())
    return _share(total, handled(tally))


def handle_time_percentile(tally: Tally, fraction: float = HANDLE_TIME_PERCENTILE) -> int | None:
    """The handle time (talk + wrap-up) that `fraction` of calls stayed within (nearest rank).

    The smallest h such that at least ⌈fraction × n⌉ of the n handled calls took ≤ h seconds.
    """
    n = handled(tally)
    if n == 0:
        return None
    rank = max(1, math.ceil(fraction * n - 1e-9))
    seen = 0
    for seconds in sorted(tally.handle_times):
        seen += tally.handle_times[seconds]
        if seen >= rank:
            return seconds
    return None  # unreachable: the counts add up to n


def calls_per_operator_hour(tally: Tally) -> float | None:
    """Calls handled per hour operators were signed in (any state but logged out).

    calls handled  /  (signed-in seconds / 3600)
    """
    return _share(handled(tally) * 3600, tally.signed_in_seconds)


def occupancy(tally: Tally) -> float | None:
    """Share of operators' available time spent on calls and their wrap-up.

    (on-call + wrap-up seconds)  /  (signed-in seconds − paused seconds)
    """
    return _share(tally.busy_seconds, tally.signed_in_seconds - tally.paused_seconds)


def first_contact_resolution(tally: Tally) -> float | None:
    """Share of answered calls whose caller did not call again about the same category within 72 hours.

    answered calls (known caller and category) not followed by another inbound call from
    the caller with that category within 72 h  /  answered calls with known caller and category
    A call's category is that of the first request taken on it, else the one chosen in the IVR.
    """
    return _share(tally.fcr_resolved, tally.fcr_calls)


def language_match_rate(tally: Tally) -> float | None:
    """Share of answered calls taken by an operator who speaks the caller's language.

    answered calls whose operator speaks the caller's language natively or fluently
    /  answered calls with a known caller language (the IVR's choice) and operator
    Judged by the languages on the operator's record when the day was tallied; routing by
    language (README) aims to bring it to 100 %.
    """
    return _share(tally.language_matched, tally.language_judged)


@dataclasses.dataclass(frozen=True)
class FunnelNode:
    node: str
    reached: int  # IVR passes that reached the node
    hung_up: int  # ... and ended there with the caller hanging up
    invalid: int  # keys refused at the node


def ivr_funnel(tally: Tally) -> list[FunnelNode]:
    """How many IVR passes reached each menu node and how many hung up there, most reached first.

    A pass counts once at each node it reached, however often it came back to it; a key
    is invalid when the IVR refused it and asked again (the next step plays "invalid").
    """
    invalid: dict[str, int] = {}
    for entry, count in tally.invalid_keys.items():
        node = entry.rsplit(" ", 1)[0]
        invalid[node] = invalid.get(node, 0) + count
    nodes = [FunnelNode(node, reached, tally.node_hangups.get(node, 0), invalid.get(node, 0))
             for node, reached in tally.nodes_reached.items()]
    return sorted(nodes, key=lambda n: (-n.reached, n.node))


def invalid_keys(tally: Tally, limit: int = 10) -> list[tuple[str, str, int]]:
    """The keys the IVR refused most often: (node, key, times), most first."""
    found = [(*entry.rsplit(" ", 1), count) for entry, count in tally.invalid_keys.items()]
    return sorted(found, key=lambda item: (-item[2], item[0], item[1]))[:limit]


# --- callbacks and surveys: few rows, read raw for the period ----------------------------------------


@dataclasses.dataclass(frozen=True)
class Callbacks:
    booked: int  # callback tasks created in the period (from the queue, after hours, voicemail …)
    placed: int  # ... that were dialled at least once
    reached: int  # ... whose caller was reached (the task done)
    median_minutes: float | None  # median of (done − created) over the reached ones

    @property
    def reach_rate(self) -> float | None:
        return _share(self.reached, self.booked)


def callbacks(rows: Iterable[Any]) -> Callbacks:
    """Callbacks booked, placed, reached, and the median minutes from booking to reaching the caller.

    booked = tasks created in the period; placed = those with at least one attempt (or
    settled done/failed); reached = status done; median time = median(done_at − created_at)
    over the reached ones, in minutes.
    """
    rows = list(rows)
    placed = [r for r in rows if r.attempts > 0 or r.status in (TaskStatus.DONE, TaskStatus.FAILED)]
    reached = [r for r in rows if r.status == TaskStatus.DONE and r.done_at is not None]
    minutes = [(r.done_at - r.created_at).total_seconds() / 60 for r in reached]
    return Callbacks(len(rows), len(placed), len(reached), statistics.median(minutes) if minutes else None)


@dataclasses.dataclass(frozen=True)
class Satisfaction:
    due: int  # surveys due in the period that have finished (completed or attempts exhausted)
    rated: int  # ... answered with a rating
    satisfied: int  # ... a 4 or a 5
    rating_sum: int
    by_provider: dict[int, tuple[int, int]]  # provider id -> (ratings, sum)
    by_category: dict[str, tuple[int, int]]  # category code -> (ratings, sum)

    @property
    def reach_rate(self) -> float | None:
        """Survey reach rate: surveys answered with a rating / surveys finished (rated or given up)."""
        return _share(self.rated, self.due)

    @property
    def csat(self) -> float | None:
        """CSAT: ratings of 4 or 5 / all ratings."""
        return _share(self.satisfied, self.rated)

    @property
    def average(self) -> float | None:
        """Average rating (1–5): Σ ratings / ratings; by provider and by category alike."""
        return _share(self.rating_sum, self.rated)


def satisfaction(rows: Iterable[Any]) -> Satisfaction:
    """Survey reach rate, CSAT and average ratings, of the surveys due in the period.

    reach rate = rated / (completed + failed); CSAT = ratings 4–5 / ratings;
    average = Σ rating / ratings, overall, per provider and per category.
    """
    due = rated = satisfied = total = 0
    by_provider: dict[int, tuple[int, int]] = {}
    by_category: dict[str, tuple[int, int]] = {}
    for row in rows:
        if row.status not in (SurveyStatus.COMPLETED, SurveyStatus.FAILED):
            continue
        due += 1
        if row.rating is None:
            continue
        rated += 1
        satisfied += row.rating in SATISFIED_RATINGS
        total += row.rating
        for table, key in ((by_provider, row.provider_id), (by_category, row.category)):
            if key is not None:
                count, summed = table.get(key, (0, 0))
                table[key] = (count + 1, summed + row.rating)
    return Satisfaction(due, rated, satisfied, total, by_provider, by_category)


def average_of(pair: tuple[int, int]) -> float | None:
    return _share(pair[1], pair[0])


# --- the wallboard's headline -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Headline:
    """Today's (or any span's) service level, abandonment and calls handled, for the wallboard."""

    start: dt.datetime
    end: dt.datetime
    target_seconds: int  # X of service_level_target
    inbound: int  # inbound calls that started
    offered: int  # ... that entered a queue
    answered: int  # ... answered by an operator from the queue
    handled: int  # inbound calls answered (queued or not)
    abandoned_in_ivr: int  # hang-ups in the IVR lasting at least the short threshold
    abandoned_in_queue: int  # hang-ups in a queue after at least the short threshold
    service_level_15: float | None  # GB/T 33358-2016: answered within 15 s
    service_level_target: float | None  # answered within X s
    ivr_abandonment: float | None
    queue_abandonment: float | None
    average_speed_of_answer: float | None


def headline_of(tally: Tally, start: dt.datetime, end: dt.datetime, kpi: KpiSettings) -> Headline:
    short = kpi.short_abandon_seconds
    return Headline(
        start=start, end=end, target_seconds=kpi.target_seconds, inbound=tally.inbound, offered=tally.offered,
        answered=answered_in_queue(tally), handled=handled(tally),
        abandoned_in_ivr=_count(tally.ivr_abandons, lambda s: s >= short),
        abandoned_in_queue=_count(tally.queue_abandons, lambda s: s >= short),
        service_level_15=service_level(tally, STANDARD_SECONDS, short),
        service_level_target=service_level(tally, kpi.target_seconds, short),
        ivr_abandonment=ivr_abandonment_rate(tally, short), queue_abandonment=queue_abandonment_rate(tally, short),
        average_speed_of_answer=average_speed_of_answer(tally),
    )


def headline(session: Session, start: dt.datetime, end: dt.datetime, settings: Any) -> Headline:
    """Service level (15 s and X s), abandonment (IVR, queue) and calls handled for the
    inbound calls that started in [start, end) (aware datetimes), from the raw rows.

    The live wallboard calls this for "today"; `settings` is the hotline's Settings (its
    [kpi] thresholds), or None for the defaults.
    """
    tally = facts.headline_tally(session, start, end, _tz(settings))
    return headline_of(tally, start, end, KpiSettings.of(settings))


def _tz(settings: Any) -> ZoneInfo:
    return getattr(settings, "tz", None) or ZoneInfo("Asia/Shanghai")
