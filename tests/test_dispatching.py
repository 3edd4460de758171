"""The ranking reads providers best first from an index; it must equal ranking them all."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import select

from db.dispatching import (
    COMPLAINT_POINTS, DISTRICT_POINTS, FREE_CAPACITY_POINTS, GRADE_POINTS, MIN_RATINGS, RATING_POINTS, suggest_providers,
)
from db.models import (
    Complaint, Dispatch, DispatchStatus, District, Provider, ProviderStatus, RequestChannel, RequestStatus,
    ServiceCategory, ServiceRequest,
)

NOW = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.timezone.utc)


def _world(session, seed: int, providers: int = 150):
    rng = random.Random(seed)
    categories = session.scalars(select(ServiceCategory)).all()[:3]
    districts = session.scalars(select(District)).all()
    made = []
    for n in range(providers):
        provider = Provider(name=f"p{seed}-{n}", licence_number=f"S{seed}N{n}", phone="13900000000",
                            grade=rng.choice([None, 1, 2, 3, 4, 5]), rating_avg=rng.choice([None, 2.5, 3.0, 4.2, 4.9]),
                            rating_count=rng.randint(0, 6), capacity=rng.randint(1, 4),
                            status=ProviderStatus.SUSPENDED if rng.random() < 0.1 else ProviderStatus.ACTIVE,
                            categories=rng.sample(categories, rng.randint(1, 2)), districts=rng.sample(districts, rng.randint(0, 2)))
        session.add(provider)
        made.append(provider)
    session.flush()
    for n in range(200):
        provider = rng.choice(made)
        request = ServiceRequest(number=f"T{seed}-{n}", category_id=categories[0].id, channel=RequestChannel.PHONE,
                                 status=rng.choice([RequestStatus.DISPATCHED, RequestStatus.IN_SERVICE, RequestStatus.COMPLETED]))
        session.add(request)
        session.flush()
        session.add(Dispatch(request_id=request.id, provider_id=provider.id,
                             status=rng.choice([DispatchStatus.OFFERED, DispatchStatus.ACCEPTED, DispatchStatus.DECLINED])))
    for _ in range(80):
        session.add(Complaint(provider_id=rng.choice(made).id, description="x",
                              created_at=NOW - dt.timedelta(days=rng.randint(0, 200))))
    session.flush()
    return made, categories, districts


def _brute_force(session, made, category, district_id, exclude):
    scored = []
    for p in made:
        if p.status != ProviderStatus.ACTIVE or category not in p.categories or p.id in exclude:
            continue
        load = sum(1 for d in session.scalars(select(Dispatch).where(Dispatch.provider_id == p.id))
                   if d.status in (DispatchStatus.OFFERED, DispatchStatus.ACCEPTED)
                   and d.request.status in (RequestStatus.DISPATCHED, RequestStatus.IN_SERVICE))
        if load >= p.capacity:
            continue
        complaints = sum(1 for c in session.scalars(select(Complaint).where(Complaint.provider_id == p.id))
                         if c.created_at >= NOW - dt.timedelta(days=90))
        score = (DISTRICT_POINTS if district_id in {d.id for d in p.districts} else 0) + (p.grade or 0) * GRADE_POINTS
        if p.rating_count >= MIN_RATINGS:
            score += ((p.rating_avg if p.rating_avg is not None else 3.0) - 3.0) * RATING_POINTS
        score += -COMPLAINT_POINTS * min(complaints, 3) + FREE_CAPACITY_POINTS * (1 - load / p.capacity)
        scored.append((round(-score, 6), p.id))
    return [provider_id for _, provider_id in sorted(scored)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_index_walk_ranks_exactly_as_scoring_every_provider(session, seed):
    made, categories, districts = _world(session, seed)
    rng = random.Random(seed)
    for _ in range(6):
        category, district = rng.choice(categories), rng.choice(districts + [None])
        exclude = tuple(p.id for p in rng.sample(made, 5))
        limit = rng.choice([1, 5, 12])
        expected = _brute_force(session, made, category, district.id if district else None, exclude)[:limit]
        got = suggest_providers(session, category.id, district.id if district else None, limit=limit,
                                exclude=exclude, now=NOW)
        assert [s.provider_id for s in got] == expected
        assert all(s.reasons for s in got)
