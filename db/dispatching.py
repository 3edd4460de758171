"""Dispatch: which provider to send a request to, and the offer's life after that.

The ranking is one SQL query (it must stay fast with tens of thousands of providers);
each suggestion carries the parts of its score so the operator sees why it ranks there.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field

from sqlalchemy import bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session

from db.audit import record
from db.base import UTCDateTime, utcnow
from db.errors import Refused
from db.models import (
    Complaint,
    Dispatch,
    DispatchStatus,
    Provider,
    ProviderStatus,
    RequestStatus,
    ServiceRequest,
    User,
    provider_categories,
    provider_districts,
)
from db.service_requests import change_status

# Score weights: district served matters most, then grade and the callers' ratings;
# complaints and a full order book push a provider down.
DISTRICT_POINTS = 40
GRADE_POINTS = 6  # per star, up to 5
RATING_POINTS = 10  # per point of average rating above 3, from MIN_RATINGS ratings up
MIN_RATINGS = 3
COMPLAINT_POINTS = 10  # per complaint in COMPLAINT_DAYS, up to three
COMPLAINT_DAYS = 90
FREE_CAPACITY_POINTS = 15  # for a provider with nothing in hand, less as it fills

# Dispatches that occupy a provider: offered and not answered, or accepted and the
# request still being served.
BUSY_DISPATCH = (DispatchStatus.OFFERED, DispatchStatus.ACCEPTED)
BUSY_REQUEST = (RequestStatus.DISPATCHED, RequestStatus.IN_SERVICE)


class DispatchError(Refused):
    pass


@dataclass(frozen=True)
class Suggestion:
    provider_id: int
    name: str
    phone: str
    grade: int | None
    rating_avg: float | None
    rating_count: int
    load: int
    capacity: int
    complaints: int
    serves_district: bool
    score: float  # rounded, as shown
    # Each reason as (kind, values): the console says it in the reader's language.
    reason_parts: tuple[tuple[str, dict], ...] = field(default=())
    exact_score: float = 0.0

    @property
    def reasons(self) -> tuple[str, ...]:
        """The reasons in Chinese (the API's and the log's language)."""
        return tuple(REASON_TEXTS[kind] % values for kind, values in self.reason_parts)

    @property
    def reason_text(self) -> str:
        return "；".join(self.reasons)


# What each kind of reason says; agent_console/formatting.py holds the same texts for translation.
REASON_TEXTS = {
    "district_unknown": "区县未填 +0",
    "district_served": "服务该区县 +%(points)d",
    "district_not_served": "不在服务区县 +0",
    "grade": "%(grade)d星级 +%(points)d",
    "ungraded": "未定级 +0",
    "rating": "评分%(rating).2f（%(count)d次） %(points)+.0f",
    "few_ratings": "评价不足%(minimum)d次 +0",
    "complaints": "近%(days)d天投诉%(count)d次 -%(points)d",
    "load": "在办%(load)d/%(capacity)d +%(points).0f",
}


def _counts(session: Session, provider_ids: list[int], since: dt.datetime) -> tuple[dict[int, int], dict[int, int]]:
    """Work in hand and recent complaints, counted for these providers only."""
    load_in_hand, recent_complaints = _count_statements()
    load = dict(session.execute(load_in_hand, {"ids": provider_ids}).all())
    complaints = dict(session.execute(recent_complaints, {"ids": provider_ids, "since": since}).all())
    return load, complaints


@functools.cache
def _count_statements():
    """Built once, the providers' ids a list parameter: an ask does not build and key
    two statements again for each batch of providers it reads (bench B5)."""
    ids = bindparam("ids", expanding=True)
    load_in_hand = (select(Dispatch.provider_id, func.count())
                    .join(ServiceRequest, ServiceRequest.id == Dispatch.request_id)
                    .where(Dispatch.provider_id.in_(ids), Dispatch.status.in_(BUSY_DISPATCH),
                           ServiceRequest.status.in_(BUSY_REQUEST))
                    .group_by(Dispatch.provider_id))
    recent_complaints = (select(Complaint.provider_id, func.count())
                         .where(Complaint.provider_id.in_(ids), Complaint.created_at >= bindparam("since", type_=UTCDateTime))
                         .group_by(Complaint.provider_id))
    return load_in_hand, recent_complaints


def suggest_providers(
    session: Session,
    category_id: int,
    district_id: int | None,
    *,
    limit: int = 5,
    exclude: tuple[int, ...] = (),
    now: dt.datetime | None = None,
) -> list[Suggestion]:
    """The best `limit` active providers for a category (and district), best first.

    Suspended providers (removed, or within a suspension for N days at `now`) and those
    at capacity are left out; so are `exclude` (providers that already declined or let
    this request's offer lapse).

    Counting every provider's load and complaints for each ask is what costs, so
    providers are read best first from the base-score index (those serving the district,
    and the others, as two streams) a few at a time, and counted only for those read.
    Counting only lowers a score below its static part plus the free-capacity points:
    once the limit-th best is above what any unread provider could reach, it is exact.
    """
    now = now or utcnow()
    since = now - dt.timedelta(days=COMPLAINT_DAYS)
    in_category = exists().where(provider_categories.c.provider_id == Provider.id,
                                 provider_categories.c.category_id == category_id)
    base = select(Provider).where(Provider.status == ProviderStatus.ACTIVE, not_suspended(now), in_category)
    if exclude:
        base = base.where(Provider.id.not_in(exclude))
    if district_id is None:
        streams = [_Stream(base, serves=None)]  # nobody can be said to serve an unknown district
    else:
        in_district = exists().where(provider_districts.c.provider_id == Provider.id,
                                     provider_districts.c.district_id == district_id)
        streams = [_Stream(base.where(in_district), serves=True), _Stream(base.where(~in_district), serves=False)]
    batch, ranked = max(4 * limit, 20), []
    while True:
        for stream in streams:
            providers = stream.read(session, batch)
            if not providers:
                continue
            load, complaints = _counts(session, [p.id for p in providers], since)
            for provider in providers:
                in_hand = load.get(provider.id, 0)
                if in_hand >= provider.capacity:
                    continue  # full: cannot take more
                counted = complaints.get(provider.id, 0)
                score = (stream.static(provider) - COMPLAINT_POINTS * min(counted, 3)
                         + FREE_CAPACITY_POINTS * (1.0 - in_hand / provider.capacity))
                ranked.append((score, provider, in_hand, counted, stream.serves))
        ranked.sort(key=lambda candidate: (-candidate[0], candidate[1].id))
        open_streams = [stream for stream in streams if not stream.exhausted]
        if not open_streams:
            break
        ceiling = max(stream.ceiling for stream in open_streams) + FREE_CAPACITY_POINTS
        if len(ranked) >= limit and ranked[limit - 1][0] > ceiling:
            break
        batch *= 4
    # Reasons are written for the few suggested, not for every provider read.
    return [_suggestion(provider, in_hand, counted, serves, score)
            for score, provider, in_hand, counted, serves in ranked[:limit]]


def not_suspended(now: dt.datetime):
    """No suspension for N days running at `now`: one ends by itself when its time is past."""
    return or_(Provider.suspended_until.is_(None), Provider.suspended_until <= now)


class _Stream:
    """Providers best base score first, read in growing batches."""

    def __init__(self, query, serves: bool | None):
        self.query = query.order_by(Provider.base_score.desc(), Provider.id)
        self.serves = serves
        self.offset = 0
        self.exhausted = False
        self.ceiling = float("inf")  # the best static score an unread provider may have

    def static(self, provider: Provider) -> float:
        return (DISTRICT_POINTS if self.serves else 0) + float(provider.base_score)

    def read(self, session: Session, batch: int) -> list[Provider]:
        if self.exhausted:
            return []
        providers = list(session.scalars(self.query.offset(self.offset).limit(batch)))
        self.offset += len(providers)
        self.exhausted = len(providers) < batch
        if providers:
            self.ceiling = self.static(providers[-1])
        return providers


def _suggestion(provider: Provider, load: int, complaints: int, serves: bool | None, score: float) -> Suggestion:
    if serves is None:
        parts = [("district_unknown", {})]
    else:
        parts = [("district_served", {"points": DISTRICT_POINTS}) if serves else ("district_not_served", {})]
    parts.append(("grade", {"grade": provider.grade, "points": provider.grade * GRADE_POINTS}) if provider.grade
                 else ("ungraded", {}))
    if provider.rating_count >= MIN_RATINGS and provider.rating_avg is not None:
        parts.append(("rating", {"rating": provider.rating_avg, "count": provider.rating_count,
                                 "points": (provider.rating_avg - 3) * RATING_POINTS}))
    else:
        parts.append(("few_ratings", {"minimum": MIN_RATINGS}))
    if complaints:
        parts.append(("complaints", {"days": COMPLAINT_DAYS, "count": complaints,
                                     "points": COMPLAINT_POINTS * min(complaints, 3)}))
    parts.append(("load", {"load": load, "capacity": provider.capacity,
                           "points": FREE_CAPACITY_POINTS * (1 - load / provider.capacity)}))
    return Suggestion(
        provider_id=provider.id, name=provider.name, phone=provider.phone, grade=provider.grade,
        rating_avg=provider.rating_avg, rating_count=provider.rating_count, load=load,
        capacity=provider.capacity, complaints=complaints, serves_district=bool(serves),
        score=round(float(score), 1), reason_parts=tuple(parts), exact_score=float(score),
    )


def tried_providers(request: ServiceRequest) -> tuple[int, ...]:
    """Providers that declined this request or let its offer lapse: not suggested again."""
    return tuple(d.provider_id for d in request.dispatches
                 if d.status in (DispatchStatus.DECLINED, DispatchStatus.TIMED_OUT))


def current_dispatch(request: ServiceRequest) -> Dispatch | None:
    for dispatch in reversed(request.dispatches):
        if dispatch.status in BUSY_DISPATCH:
            return dispatch
    return None


def assign(
    session: Session,
    request: ServiceRequest,
    provider: Provider,
    user: User | None,
    *,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> Dispatch:
    """Offer the request to a provider: the request becomes dispatched."""
    now = now or utcnow()
    if provider.status != ProviderStatus.ACTIVE or (provider.suspended_until is not None
                                                    and provider.suspended_until > now):
        raise DispatchError("provider_suspended", f"{provider.name} is suspended and cannot take requests",
                            provider=provider.name)
    if request.category not in provider.categories:
        raise DispatchError("provider_category", f"{provider.name} does not serve {request.category.code}",
                            provider=provider.name, category=request.category.name_zh)
    if current_dispatch(request) is not None:
        raise DispatchError("already_dispatched", f"request {request.number} is already with a provider",
                            number=request.number)
    change_status(session, request, RequestStatus.DISPATCHED, user=user, now=now, note=provider.name)
    dispatch = Dispatch(request=request, provider=provider, status=DispatchStatus.OFFERED,
                        offered_by_id=user.id if user else None, offered_at=now, rank_reason=reason)
    session.add(dispatch)
    session.flush()
    record(session, user, "dispatch", request, {"provider_id": provider.id, "dispatch_id": dispatch.id})
    return dispatch


def respond(
    session: Session,
    dispatch: Dispatch,
    accepted: bool,
    user: User | None,
    *,
    note: str | None = None,
    now: dt.datetime | None = None,
    lapsed: bool = False,
) -> None:
    """Record the provider's answer. A refusal (or silence) sends the request back to new."""
    answer = DispatchStatus.ACCEPTED if accepted else DispatchStatus.TIMED_OUT if lapsed else DispatchStatus.DECLINED
    # Taken by one statement: of two answers at once (接单 by SMS while the operator clicks
    # 企业拒单), the second finds the offer answered instead of overwriting the first.
    claimed = dispatch.status == DispatchStatus.OFFERED and session.execute(
        update(Dispatch).where(Dispatch.id == dispatch.id, Dispatch.status == DispatchStatus.OFFERED)
        .values(status=answer).execution_options(synchronize_session=False)).rowcount == 1
    if not claimed:
        session.refresh(dispatch, ["status"])
        raise DispatchError("already_answered", f"this offer was already answered ({dispatch.status.value})")
    now = now or utcnow()
    dispatch.status = answer
    if not accepted:
        change_status(session, dispatch.request, RequestStatus.NEW, user=user, now=now,
                      note=f"{dispatch.provider.name}: {dispatch.status.value}")
    dispatch.responded_at = now
    dispatch.note = note
    record(session, user, "dispatch_" + dispatch.status.value, dispatch.request,
           {"provider_id": dispatch.provider_id, "dispatch_id": dispatch.id})
    session.flush()


def overdue_offers(session: Session, answer_minutes: int, now: dt.datetime | None = None) -> list[Dispatch]:
    """Offers a provider has not answered in time: the operator is reminded of each."""
    cutoff = (now or utcnow()) - dt.timedelta(minutes=answer_minutes)
    query = (select(Dispatch).where(Dispatch.status == DispatchStatus.OFFERED, Dispatch.offered_at <= cutoff)
             .order_by(Dispatch.offered_at))
    return list(session.scalars(query))


def offer_next(session: Session, dispatch: Dispatch, user: User | None, now: dt.datetime | None = None) -> Dispatch | None:
    """The offer lapsed: record it and offer the request to the best provider not yet tried."""
    now = now or utcnow()
    respond(session, dispatch, False, user, now=now, lapsed=True, note="no answer")
    request = dispatch.request
    suggestions = suggest_providers(session, request.category_id, request.district_id, limit=1,
                                    exclude=tried_providers(request), now=now)
    if not suggestions:
        return None
    provider = session.get(Provider, suggestions[0].provider_id)
    return assign(session, request, provider, user, reason=suggestions[0].reason_text, now=now)
