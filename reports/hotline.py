"""The hotline's own call figures for a period, in ONE place: the KPI reports' formulas
(kpi/formulas.py) over the KPI reports' daily tallies (kpi/rollup.py: the rollup where a
day is settled, the raw rows otherwise), so the report and the 统计报表 page agree."""
from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from sqlalchemy.orm import Session

from kpi import facts, rollup
from kpi.formulas import KpiSettings
from kpi.report import figures as kpi_figures
from kpi.tally import Tally, merged
from reports.model import COUNT, SECONDS, SHARE, Figure, share
from reports.period import LOCAL, Period


class Measure(NamedTuple):
    key: str
    kind: str


MEASURES = (Measure("calls_received", COUNT), Measure("calls_queued", COUNT), Measure("calls_answered", COUNT),
            Measure("answered_share", SHARE), Measure("service_level_15", SHARE),
            Measure("queue_abandonment", SHARE), Measure("ivr_abandonment", SHARE),
            Measure("average_speed_of_answer", SECONDS), Measure("average_handle_time", SECONDS))


def figures(session: Session, period: Period, now: dt.datetime, kpi: KpiSettings | None = None) -> dict[str, Figure]:
    """Inbound calls started in the period: received, offered to a queue, answered (handled),
    the answered share, GB/T 33358-2016's service level (15 s), the queue and IVR
    abandonment rates, the average speed of answer and the average handle time, each as
    kpi/formulas.py defines it (short abandons excluded per `kpi`)."""
    last = period.next_first_day - dt.timedelta(days=1)
    by_day = rollup.day_tallies(session, period.first_day, last, facts.ALL[0], LOCAL, now)
    total = merged(tallies.get(facts.ALL, Tally()) for tallies in by_day.values())
    kpis = kpi_figures(total, kpi or KpiSettings())
    return {"calls_received": kpis.inbound, "calls_queued": kpis.offered, "calls_answered": kpis.handled,
            "answered_share": share(kpis.handled, kpis.inbound), "service_level_15": kpis.service_level_15,
            "queue_abandonment": kpis.queue_abandonment, "ivr_abandonment": kpis.ivr_abandonment,
            "average_speed_of_answer": _rounded(kpis.average_speed_of_answer),
            "average_handle_time": _rounded(kpis.average_handle_time)}


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(float(seconds), 1)
