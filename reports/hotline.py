"""The hotline's own call figures for a period, in ONE place: point `figures` at the KPI
formulas (kpi/formulas.py) when they land, and the report follows."""
from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from db.models import Call, CallDirection, CallOutcome
from reports.model import COUNT, SECONDS, SHARE, Figure, share
from reports.period import Period

ABANDONED = (CallOutcome.ABANDONED_IN_IVR, CallOutcome.ABANDONED_IN_QUEUE)


class Measure(NamedTuple):
    key: str
    kind: str


MEASURES = (Measure("calls_received", COUNT), Measure("calls_answered", COUNT), Measure("calls_abandoned", COUNT),
            Measure("answered_share", SHARE), Measure("average_queue_wait", SECONDS))


def figures(session: Session, period: Period) -> dict[str, Figure]:
    """Inbound calls started in the period: received, answered by an operator, abandoned
    (in the IVR or the queue), the answered share and the average wait of queued calls."""
    received, answered, abandoned, wait = session.execute(
        select(func.count(), func.sum(case((Call.answered_at.is_not(None), 1), else_=0)),
               func.sum(case((Call.outcome.in_(ABANDONED), 1), else_=0)), func.avg(Call.queue_wait_seconds))
        .where(Call.direction == CallDirection.INBOUND, Call.started_at >= period.start, Call.started_at < period.end)
    ).one()
    return {"calls_received": received, "calls_answered": answered or 0, "calls_abandoned": abandoned or 0,
            "answered_share": share(answered or 0, received),
            "average_queue_wait": None if wait is None else round(float(wait), 1)}
