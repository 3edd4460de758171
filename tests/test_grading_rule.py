"""The grading rule (config/grading.toml) on hand-built records, at every threshold."""
from __future__ import annotations

import copy
import tomllib

import pytest

from supervision.rule import RULE_FILE, Inputs, RuleError, load_rule, rule_from

RULE = load_rule()
# Every factor at its best: 100 points, five stars, so one change at a time shows alone.
BEST = dict(ratings=20, rating_avg=5.0, workers=10, certified_workers=10, years_registered=8.0,
            response_minutes=2.0, offers=20)
EPSILON = {"rating": 0.01, "certified": 0.01, "years": 0.01, "response": 0.1}


def _points(verdict, factor):
    return sum(r["points"] for r in verdict.reasons if r.get("factor") == factor)


def _inputs_with(factor: str, value: float) -> Inputs:
    if factor == "rating":
        return Inputs(**{**BEST, "rating_avg": value})
    if factor == "certified":
        return Inputs(**{**BEST, "workers": 100, "certified_workers": round(value * 100)})
    if factor == "years":
        return Inputs(**{**BEST, "years_registered": value})
    return Inputs(**{**BEST, "response_minutes": value})


def _cases():
    for factor, steps in RULE.steps.items():
        at_least = factor != "response"
        for index, (threshold, points) in enumerate(steps):
            worse = steps[index + 1][1] if index + 1 < len(steps) else 0
            step = EPSILON[factor] if at_least else -EPSILON[factor]
            yield pytest.param(factor, threshold - step, worse, id=f"{factor}-{threshold:g}-just-below")
            yield pytest.param(factor, threshold, points, id=f"{factor}-{threshold:g}-at")
            better = steps[index - 1][1] if index and abs(steps[index - 1][0] - threshold) <= EPSILON[factor] else points
            yield pytest.param(factor, threshold + step, better, id=f"{factor}-{threshold:g}-above")


@pytest.mark.parametrize("factor, value, points", list(_cases()))
def test_each_factor_threshold_below_at_and_above(factor, value, points):
    verdict = RULE.grade(_inputs_with(factor, value))
    assert _points(verdict, factor) == points


@pytest.mark.parametrize("index", range(4))
def test_each_star_threshold_below_at_and_above(index):
    threshold = RULE.thresholds[index]
    assert RULE.stars(threshold - 0.5) == index + 1
    assert RULE.stars(threshold) == index + 2
    assert RULE.stars(threshold + 0.5) == index + 2


def test_star_thresholds_are_reached_from_a_record():
    assert RULE.thresholds[-1] == 85 and RULE.deductions["suspension"] == 15  # the shipped rule
    at = RULE.grade(Inputs(**BEST, suspensions=1))  # 100 - 15
    assert (at.score, at.grade) == (85, 5)
    below = RULE.grade(Inputs(**{**BEST, "response_minutes": 20.0}, suspensions=1))  # 100 - 15 - 3
    assert (below.score, below.grade) == (82, 4)


def test_evidence_thresholds_leave_a_provider_ungraded_and_say_why():
    need = RULE.min_ratings
    short = RULE.grade(Inputs(**{**BEST, "ratings": need - 1}))
    assert short.grade is None and short.score is None
    assert short.missing == [{"missing": "ratings", "have": need - 1, "need": need}]
    assert RULE.grade(Inputs(**{**BEST, "ratings": need})).grade == 5
    assert RULE.grade(Inputs(**{**BEST, "ratings": need + 1})).grade == 5
    no_workers = RULE.grade(Inputs(**{**BEST, "workers": 0, "certified_workers": 0}))
    assert no_workers.missing == [{"missing": "workers", "have": 0, "need": RULE.min_workers}]


def test_deductions_and_commendations_are_each_explained_and_the_score_stays_in_range():
    verdict = RULE.grade(Inputs(**BEST, complaints_upheld=1, warnings=1, suspensions=1, commendations=3))
    explained = {r["factor"]: r["points"] for r in verdict.reasons}
    assert explained["complaint_upheld"] == -RULE.deductions["complaint_upheld"]
    assert explained["warning"] == -RULE.deductions["warning"]
    assert explained["suspension"] == -RULE.deductions["suspension"]
    assert explained["commendation"] == RULE.commendation_most  # 3 × 5 capped at 10
    assert "dispute_lost" not in explained  # none: no disputes are recorded yet
    assert verdict.score == sum(explained.values())
    worst = RULE.grade(Inputs(**{**BEST, "rating_avg": 1.0}, removals=3, complaints_upheld=10))
    assert worst.score == 0 and worst.grade == 1


def test_a_lapsed_or_absent_response_time_earns_nothing():
    assert _points(RULE.grade(Inputs(**{**BEST, "response_minutes": None})), "response") == 0


def _document():
    with RULE_FILE.open("rb") as handle:
        return tomllib.load(handle)


@pytest.mark.parametrize("change, key", [
    (lambda d: d["evidence"].pop("min_ratings"), "evidence.min_ratings is missing"),
    (lambda d: d["evidence"].update(min_ratings=-1), "evidence.min_ratings is -1"),
    (lambda d: d["evidence"].update(min_ratings="five"), "evidence.min_ratings is 'five'"),
    (lambda d: d["factors"]["rating"].update(steps=[[4.0, 24], [4.5, 32]]), "factors.rating.steps[1]"),
    (lambda d: d["factors"]["response"].update(steps=[[30, 7], [10, 10]]), "factors.response.steps[1]"),
    (lambda d: d["factors"]["years"].update(steps=[[5, 200]]), "factors.years.steps[0]"),
    (lambda d: d["stars"].update(thresholds=[40, 70, 55, 85]), "stars.thresholds"),
    (lambda d: d["deductions"].update(fraud=50), "unknown key deductions.fraud"),
])
def test_a_bad_rule_is_refused_naming_the_key(change, key):
    document = copy.deepcopy(_document())
    change(document)
    with pytest.raises(RuleError, match=key.replace("[", r"\[").replace("]", r"\]")):
        rule_from(document, "grading.toml")


def test_an_unreadable_rule_file_is_a_clear_error(tmp_path):
    broken = tmp_path / "grading.toml"
    broken.write_text("[evidence\n", encoding="utf-8")
    with pytest.raises(RuleError, match="not valid TOML"):
        load_rule(broken)
    with pytest.raises(RuleError, match="cannot read"):
        load_rule(tmp_path / "absent.toml")
