"""The grading rule (分类定级): a provider's record in, one to five stars and why out.

Pure: no database, no clock. The rule lives in config/grading.toml and is checked when
read; an error names the key that is wrong. supervision/grading.py gathers the inputs.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import config

RULE_FILE = Path(config.__file__).with_name("grading.toml")

# Factors whose value must reach a step ("at least"), and those that must stay under it.
AT_LEAST = ("rating", "certified", "years")
AT_MOST = ("response",)
DEDUCTIONS = ("complaint_upheld", "dispute_lost", "warning", "suspension", "removal")


class RuleError(ValueError):
    """config/grading.toml is missing a key, or a value does not fit."""


@dataclass(frozen=True)
class Inputs:
    """A provider's record as the rule reads it (kept with each grading, as JSON)."""

    ratings: int = 0
    rating_avg: float | None = None
    workers: int = 0
    certified_workers: int = 0
    years_registered: float = 0.0
    response_minutes: float | None = None  # median; None: no offers in the window
    offers: int = 0
    complaints_upheld: int = 0
    disputes_lost: int = 0  # upheld or partly upheld against the provider (supervision/disputes.py)
    warnings: int = 0
    suspensions: int = 0
    removals: int = 0
    commendations: int = 0

    @property
    def certified_share(self) -> float | None:
        return self.certified_workers / self.workers if self.workers else None

    def to_json(self) -> dict[str, Any]:
        # Flat numbers only: read field by field (asdict deep-copies every value, a third of
        # a regrade's own time at 2,000 providers, benchmark B8).
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass(frozen=True)
class Verdict:
    grade: int | None  # None: too little evidence
    score: float | None
    # {"factor", "value", "points"} per factor and deduction; {"missing", "have", "need"}
    # for each piece of evidence that is short (then there is no grade).
    reasons: list[dict[str, Any]]

    @property
    def missing(self) -> list[dict[str, Any]]:
        return [reason for reason in self.reasons if "missing" in reason]


@dataclass(frozen=True)
class Rule:
    min_ratings: int
    min_workers: int
    rating_days: int
    record_days: int
    base: int
    steps: dict[str, tuple[tuple[float, int], ...]]
    deductions: dict[str, int]
    commendation_each: int
    commendation_most: int
    thresholds: tuple[int, int, int, int]

    def grade(self, inputs: Inputs) -> Verdict:
        missing = []
        if inputs.ratings < self.min_ratings:
            missing.append({"missing": "ratings", "have": inputs.ratings, "need": self.min_ratings})
        if inputs.workers < self.min_workers:
            missing.append({"missing": "workers", "have": inputs.workers, "need": self.min_workers})
        if missing:
            return Verdict(None, None, missing)
        values = {"rating": inputs.rating_avg, "certified": inputs.certified_share,
                  "years": inputs.years_registered, "response": inputs.response_minutes}
        reasons = [{"factor": "base", "value": None, "points": self.base}]
        for factor, value in values.items():
            reasons.append({"factor": factor, "value": value, "points": self.points(factor, value)})
        counts = {"complaint_upheld": inputs.complaints_upheld, "dispute_lost": inputs.disputes_lost,
                  "warning": inputs.warnings, "suspension": inputs.suspensions, "removal": inputs.removals}
        for name, count in counts.items():
            if count:
                reasons.append({"factor": name, "value": count, "points": -count * self.deductions[name]})
        if inputs.commendations:
            reasons.append({"factor": "commendation", "value": inputs.commendations,
                            "points": min(inputs.commendations * self.commendation_each, self.commendation_most)})
        score = float(min(100, max(0, sum(reason["points"] for reason in reasons))))
        return Verdict(self.stars(score), score, reasons)

    def points(self, factor: str, value: float | None) -> int:
        if value is None:
            return 0
        for threshold, points in self.steps[factor]:
            if (value >= threshold) if factor in AT_LEAST else (value <= threshold):
                return points
        return 0

    def stars(self, score: float) -> int:
        return 1 + sum(score >= threshold for threshold in self.thresholds)


def load_rule(path: Path | str | None = None) -> Rule:
    path = Path(path) if path else RULE_FILE
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise RuleError(f"cannot read the grading rule {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{path} is not valid TOML: {exc}") from exc
    return rule_from(document, str(path))


def rule_from(document: dict[str, Any], origin: str = "grading rule") -> Rule:
    read = _Reader(document, origin)
    steps = {factor: read.steps(f"factors.{factor}.steps", descending=factor in AT_LEAST)
             for factor in (*AT_LEAST, *AT_MOST)}
    thresholds = read.thresholds("stars.thresholds")
    rule = Rule(
        min_ratings=read.whole("evidence.min_ratings", 0, 10000),
        min_workers=read.whole("evidence.min_workers", 0, 10000),
        rating_days=read.whole("windows.rating_days", 1, 3660),
        record_days=read.whole("windows.record_days", 1, 3660),
        base=read.whole("points.base", 0, 100),
        steps=steps,
        deductions={name: read.whole(f"deductions.{name}", 0, 100) for name in DEDUCTIONS},
        commendation_each=read.whole("commendations.each", 0, 100),
        commendation_most=read.whole("commendations.most", 0, 100),
        thresholds=thresholds,
    )
    read.no_others()
    return rule


class _Reader:
    """Reads dotted keys from the TOML document, remembering which it used."""

    def __init__(self, document: dict[str, Any], origin: str):
        self.document, self.origin, self.used = document, origin, set()

    def fail(self, key: str, expected: str, value: Any = None) -> RuleError:
        shown = "is missing" if value is None else f"is {value!r}"
        return RuleError(f"{self.origin}: {key} {shown}; expected {expected}")

    def value(self, key: str, expected: str) -> Any:
        node: Any = self.document
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise self.fail(key, expected)
            node = node[part]
        self.used.add(key)
        return node

    def whole(self, key: str, lo: int, hi: int) -> int:
        expected = f"a whole number from {lo} to {hi}"
        value = self.value(key, expected)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(key, expected, value)
        return value

    def steps(self, key: str, descending: bool) -> tuple[tuple[float, int], ...]:
        order = "highest threshold first" if descending else "lowest threshold first"
        expected = f"a list of [threshold, points] pairs, {order}, points from 0 to 100"
        value = self.value(key, expected)
        if not isinstance(value, list) or not value:
            raise self.fail(key, expected, value)
        steps = []
        for index, step in enumerate(value):
            if (not isinstance(step, list) or len(step) != 2 or any(isinstance(x, bool) for x in step)
                    or not isinstance(step[0], (int, float)) or step[0] < 0
                    or not isinstance(step[1], int) or not 0 <= step[1] <= 100):
                raise self.fail(f"{key}[{index}]", expected, step)
            if steps and ((step[0] >= steps[-1][0]) if descending else (step[0] <= steps[-1][0])):
                raise self.fail(f"{key}[{index}]", expected, step)
            steps.append((float(step[0]), step[1]))
        return tuple(steps)

    def thresholds(self, key: str) -> tuple[int, int, int, int]:
        expected = "four scores from 0 to 100, rising (for two, three, four and five stars)"
        value = self.value(key, expected)
        if (not isinstance(value, list) or len(value) != 4
                or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 100 for x in value)
                or sorted(set(value)) != value):
            raise self.fail(key, expected, value)
        return tuple(value)  # type: ignore[return-value]

    def no_others(self) -> None:
        for key in sorted(_leaves(self.document)):
            if key not in self.used:
                raise RuleError(f"{self.origin}: unknown key {key}")


def _leaves(node: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for name, value in node.items():
        key = prefix + name
        keys.extend(_leaves(value, key + ".") if isinstance(value, dict) else [key])
    return keys
