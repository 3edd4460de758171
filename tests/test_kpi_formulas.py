"""The KPI formulas (kpi/formulas.py) on the fixture day (tests/kpi_day.py), on SQLite and
PostgreSQL: every expected figure is worked out by hand in the comments beside it."""
from __future__ import annotations

import datetime as dt

import pytest

from kpi import facts, formulas
from kpi.formulas import KpiSettings
from kpi.tally import Tally
from tests import kpi_day
from tests.kpi_day import DAY, TZ

START, END = facts.local_day_bounds(DAY, TZ)
KPI = KpiSettings(target_seconds=20, short_abandon_seconds=5)


@pytest.fixture
def day(session):
    people = kpi_day.build(session)
    return people, facts.period_tallies(session, START, END, TZ)


def test_the_day_is_the_local_day():
    # Heyuan's 26 November runs from 25 November 16:00 UTC to 26 November 16:00 UTC.
    assert START == dt.datetime(2026, 11, 25, 16, 0, tzinfo=dt.timezone.utc)
    assert END == dt.datetime(2026, 11, 26, 16, 0, tzinfo=dt.timezone.utc)


def test_call_figures_of_the_whole_day(day):
    _, tallies = day
    t = tallies[facts.ALL]
    # Calls 1–9 are inbound (the outbound call and the later days' calls are not).
    assert t.inbound == 9
    # Queued: 1, 2, 3, 4, 5, 8, 9.
    assert t.offered == 7
    # Answered from the queue after 10, 14, 18 and 25 s; abandoned there after 3 and 40 s (call 5: 10:00:10 → 10:00:50).
    assert dict(t.answer_waits) == {10: 1, 14: 1, 18: 1, 25: 1}
    assert dict(t.queue_abandons) == {3: 1, 40: 1}
    # Service level 15 s: answered within 15 s = calls 1 (10) and 2 (14) = 2;
    # offered less the one short abandon (call 4, 3 s < 5 s) = 7 − 1 = 6 → 2/6.
    assert formulas.service_level(t, 15, 5) == pytest.approx(2 / 6)
    # X = 20 s: calls 1, 2, 3 (18 s) → 3/6.
    assert formulas.service_level(t, 20, 5) == pytest.approx(3 / 6)
    # With no short threshold call 4 counts: 2/7.
    assert formulas.service_level(t, 15, 0) == pytest.approx(2 / 7)
    # Queue abandonment: call 5 (40 s ≥ 5 s) = 1 over 6 → 1/6.
    assert formulas.queue_abandonment_rate(t, 5) == pytest.approx(1 / 6)
    # IVR abandonment: call 7 (30 s) = 1; call 6 (3 s) is short: 1 / (9 − 1) = 1/8.
    assert formulas.ivr_abandonment_rate(t, 5) == pytest.approx(1 / 8)
    # ASA: (10 + 14 + 18 + 25) / 4 = 67 / 4 = 16.75 s.
    assert formulas.average_speed_of_answer(t) == pytest.approx(16.75)
    # Handle times (talk + wrap-up): call 1 300 + 15 = 315; call 2 120 + 6 (B paused at 09:12:30,
    # before the wrap-up's scheduled end 09:12:39) = 126; call 3 600 + 15 (A's wrap-up began 2 s
    # after the hang-up) = 615; call 8 120 + 15 = 135.
    assert dict(t.handle_times) == {315: 1, 126: 1, 615: 1, 135: 1}
    assert formulas.handled(t) == 4
    # AHT: (315 + 126 + 615 + 135) / 4 = 1191 / 4 = 297.75 s.
    assert formulas.average_handle_time(t) == pytest.approx(297.75)
    # p90 (nearest rank): ⌈0.9 × 4⌉ = 4th of 126, 135, 315, 615 → 615 s; the median (⌈2⌉ = 2nd) → 135 s.
    assert formulas.handle_time_percentile(t) == 615
    assert formulas.handle_time_percentile(t, 0.5) == 135
    # FCR: answered calls with caller and category: 1 (c1 household), 2 (c2 repair, from its request),
    # 3 (c3 household), 8 (c1 household). Call 1 is followed by call 8 the same afternoon: not
    # resolved. Call 2's next repair call comes 72 h 50 min later and call 3's next call is about
    # repair: both resolved; call 8 has no later call: resolved → 3/4.
    assert (t.fcr_calls, t.fcr_resolved) == (4, 3)
    assert formulas.first_contact_resolution(t) == pytest.approx(0.75)
    # Arrivals by local hour: 09 → calls 1–4, 10 → 5 and 6, 11 → 7, 14 → 8, 15 → 9.
    assert {hour: n for hour, n in enumerate(t.arrivals) if n} == {9: 4, 10: 2, 11: 1, 14: 1, 15: 1}


def test_operator_time(day):
    people, tallies = day
    t = tallies[facts.ALL]
    # A: signed in 08:30–17:30 = 9 h = 32,400 s; paused 12:00–13:00 = 3,600 s; busy: on call
    # 09:00:30–09:05:30 (300) + wrap-up to its end 09:05:45 (15) + on call 09:20:28–09:30:30 (602)
    # + wrap-up 09:30:30–09:30:45 (15) = 932 s.
    a = tallies[("operator", str(people["a"].id))]
    assert (a.signed_in_seconds, a.paused_seconds, a.busy_seconds) == (32400, 3600, 932)
    # B: signed in from the day's start (logged in the evening before) to 01:00 = 3,600 s, and
    # 09:00–16:00 = 25,200 s: 28,800 s; paused 09:12:30–09:42:30 = 1,800 s; busy: 120 + 6 + 120 + 15 = 261 s.
    b = tallies[("operator", str(people["b"].id))]
    assert (b.signed_in_seconds, b.paused_seconds, b.busy_seconds) == (28800, 1800, 261)
    assert (t.signed_in_seconds, t.paused_seconds, t.busy_seconds) == (61200, 5400, 1193)
    # Occupancy: 1193 / (61,200 − 5,400) = 1193 / 55,800; calls per operator-hour: 4 / 17 h.
    assert formulas.occupancy(t) == pytest.approx(1193 / 55800)
    assert formulas.calls_per_operator_hour(t) == pytest.approx(4 / 17)
    # A: calls 1 and 3: AHT (315 + 615) / 2 = 465; 2 calls / 9 h; occupancy 932 / 28,800.
    assert formulas.average_handle_time(a) == pytest.approx(465)
    assert formulas.calls_per_operator_hour(a) == pytest.approx(2 / 9)
    assert formulas.occupancy(a) == pytest.approx(932 / 28800)
    # B: calls 2 and 8: AHT (126 + 135) / 2 = 130.5; 2 calls / 8 h; occupancy 261 / 27,000.
    assert formulas.average_handle_time(b) == pytest.approx(130.5)
    assert formulas.calls_per_operator_hour(b) == pytest.approx(2 / 8)
    assert formulas.occupancy(b) == pytest.approx(261 / 27000)


def test_breakdowns_by_queue_language_and_category(day):
    _, tallies = day
    # The queue "general" has every call but the IVR's two (6, 7): 7 in, 7 offered, same service level.
    general = tallies[("queue", "general")]
    assert (general.inbound, general.offered) == (7, 7)
    assert formulas.service_level(general, 15, 5) == pytest.approx(2 / 6)
    assert formulas.ivr_abandonment_rate(general, 5) == 0
    # Mandarin: calls 1, 3, 4, 7, 8; offered 1, 3, 4, 8; within 15 s only call 1; call 4 short
    # → 1 / (4 − 1); IVR abandonment: call 7 (30 s) of 5 → 1/5.
    cmn = tallies[("language", "cmn")]
    assert (cmn.inbound, cmn.offered) == (5, 4)
    assert formulas.service_level(cmn, 15, 5) == pytest.approx(1 / 3)
    assert formulas.ivr_abandonment_rate(cmn, 5) == pytest.approx(1 / 5)
    # Cantonese: calls 2, 5, 9, all queued; call 2 within 15 s → 1/3; call 5 abandoned → 1/3.
    yue = tallies[("language", "yue")]
    assert formulas.service_level(yue, 15, 5) == pytest.approx(1 / 3)
    assert formulas.queue_abandonment_rate(yue, 5) == pytest.approx(1 / 3)
    # Household: calls 1, 3, 8 (their IVR choice); repair: call 2 (its request).
    household = tallies[("category", "household")]
    assert (household.inbound, formulas.handled(household)) == (3, 3)
    assert formulas.first_contact_resolution(household) == pytest.approx(2 / 3)
    assert tallies[("category", "repair")].inbound == 1
    assert ("language", "hak") not in tallies


def test_ivr_funnel_and_invalid_keys(day):
    _, tallies = day
    t = tallies[facts.ALL]
    # welcome: calls 1, 2, 6, 7 → 4, call 6 hung up there; main: 1, 2, 7 → 3 (call 7 once,
    # though it came back three times), call 7 hung up there after two refused keys (9, 7).
    funnel = formulas.ivr_funnel(t)
    assert [(n.node, n.reached, n.hung_up, n.invalid) for n in funnel] == [("welcome", 4, 1, 0), ("main", 3, 1, 2)]
    assert formulas.invalid_keys(t) == [("main", "7", 1), ("main", "9", 1)]


def test_callbacks_and_satisfaction(session):
    kpi_day.build(session)
    # Booked 4; placed 3 (all but the pending one); reached 2; median of 30 and 90 minutes = 60.
    found = formulas.callbacks(facts.callback_rows(session, START, END))
    assert (found.booked, found.placed, found.reached, found.median_minutes) == (4, 3, 2, 60)
    assert found.reach_rate == pytest.approx(2 / 4)
    # Surveys finished: 3 rated (5, 3, 4) and 1 given up; the scheduled one does not count.
    s = formulas.satisfaction(facts.survey_rows(session, START, END))
    assert (s.due, s.rated, s.satisfied) == (4, 3, 2)
    assert s.reach_rate == pytest.approx(3 / 4)
    assert s.csat == pytest.approx(2 / 3)  # the 5 and the 4
    assert s.average == pytest.approx(12 / 3)  # (5 + 3 + 4) / 3
    assert {code: formulas.average_of(pair) for code, pair in s.by_category.items()} == {"household": 4.5, "repair": 3.0}
    assert sorted(formulas.average_of(pair) for pair in s.by_provider.values()) == [4.0, 4.0]  # (5 + 3) / 2; 4


def test_language_match_rate(day):
    people, tallies = day
    # Answered calls, caller's language and operator known: 1 (cmn, A), 2 (yue, B), 3 (cmn, A),
    # 8 (cmn, B). A speaks Mandarin natively (her basic Cantonese would not count); B has
    # nothing recorded, which counts as fluent Mandarin only. Matched: 1, 3, 8 → 3/4.
    # Not judged: the abandons and the callback (not answered), the outbound call.
    t = tallies[facts.ALL]
    assert (t.language_judged, t.language_matched) == (4, 3)
    assert formulas.language_match_rate(t) == pytest.approx(3 / 4)
    # Mandarin: 1, 3, 8 all matched; Cantonese: call 2 answered by B, who does not speak it.
    assert formulas.language_match_rate(tallies[("language", "cmn")]) == 1
    assert formulas.language_match_rate(tallies[("language", "yue")]) == 0
    # A: 1, 3 → 2/2; B: 2 (no), 8 (yes) → 1/2.
    assert formulas.language_match_rate(tallies[("operator", str(people["a"].id))]) == 1
    assert formulas.language_match_rate(tallies[("operator", str(people["b"].id))]) == pytest.approx(1 / 2)
    # A queue with no answered call has nothing to judge.
    assert formulas.language_match_rate(Tally()) is None


def test_headline_for_the_wallboard(session):
    kpi_day.build(session)
    found = formulas.headline(session, START, END, None)
    assert (found.inbound, found.offered, found.answered, found.handled) == (9, 7, 4, 4)
    assert (found.abandoned_in_ivr, found.abandoned_in_queue) == (1, 1)
    assert found.service_level_15 == pytest.approx(2 / 6)
    assert (found.target_seconds, found.service_level_target) == (20, pytest.approx(3 / 6))
    assert found.ivr_abandonment == pytest.approx(1 / 8)
    assert found.queue_abandonment == pytest.approx(1 / 6)
    assert found.average_speed_of_answer == pytest.approx(16.75)


def test_a_headline_of_an_empty_span_has_no_ratios(session):
    found = formulas.headline(session, START - dt.timedelta(days=400), START - dt.timedelta(days=399), None)
    assert (found.inbound, found.service_level_15, found.queue_abandonment) == (0, None, None)


def test_figures_without_calls_are_undefined_not_zero():
    empty = Tally()
    assert formulas.service_level(empty, 15, 5) is None
    assert formulas.average_handle_time(empty) is None
    assert formulas.handle_time_percentile(empty) is None
    assert formulas.occupancy(empty) is None


def test_a_tally_survives_its_json():
    t = Tally(inbound=3, offered=2)
    t.answer_waits.update({4: 2})
    t.invalid_keys["main 9"] += 1
    t.arrivals[9] = 3
    t.language_judged, t.language_matched = 2, 1
    assert Tally.from_json(t.to_json()) == t
