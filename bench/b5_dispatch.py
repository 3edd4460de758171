"""B5: top-5 dispatch suggestions among 50,000 providers, beside a bare indexed select.

The database (SQLite, as the demo; PostgreSQL too when reachable) holds 50,000 providers
serving 1–3 categories and 1–3 districts, 20,000 requests in hand (each dispatched to a
provider, which counts against its capacity) and 5,000 complaints in the last 90 days.
- bare: the five first active providers of the category by an indexed join, no ranking;
- ours: suggest_providers(): the ranked five with load, complaints, district and reasons.
Target: ours p99 ≤ 20 ms.
"""
from __future__ import annotations

import datetime as dt
import random
import time

from sqlalchemy import insert, select, text

from bench.common import backend_lines, latency_line, on_both_databases, percentiles

P99_TARGET_MS = 20.0


def populate(engine, providers: int, requests: int, complaints: int, seed: int = 7) -> None:
    from db import migrate
    from db.models import (Complaint, Dispatch, DispatchStatus, Provider, RequestChannel, RequestStatus,
                           ServiceRequest, provider_categories, provider_districts)
    from db.reference import ensure_reference_data
    from db.session import make_session_factory, transaction

    migrate.upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        ensure_reference_data(session)
    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as connection:
        categories = [row[0] for row in connection.execute(text("SELECT id FROM service_categories"))]
        districts = [row[0] for row in connection.execute(text("SELECT id FROM districts"))]
        connection.execute(insert(Provider), [
            {"id": n, "name": f"企业{n}", "licence_number": f"L{n:017d}", "phone": f"139{n:08d}",
             "grade": rng.choice([None, 1, 2, 3, 4, 5]), "rating_avg": round(rng.uniform(2, 5), 2),
             "rating_count": rng.randint(0, 40), "capacity": rng.randint(1, 10),
             "status": "suspended" if rng.random() < 0.05 else "active", "created_at": now}
            for n in range(1, providers + 1)])
        connection.execute(insert(provider_categories), [
            {"provider_id": n, "category_id": c} for n in range(1, providers + 1)
            for c in rng.sample(categories, rng.randint(1, 3))])
        connection.execute(insert(provider_districts), [
            {"provider_id": n, "district_id": d} for n in range(1, providers + 1)
            for d in rng.sample(districts, rng.randint(1, 3))])
        connection.execute(insert(ServiceRequest), [
            {"id": n, "number": f"HY20261127-{n:05d}", "category_id": rng.choice(categories), "description": "",
             "channel": RequestChannel.PHONE, "status": rng.choice([RequestStatus.DISPATCHED, RequestStatus.IN_SERVICE]),
             "priority": "normal", "created_at": now, "updated_at": now} for n in range(1, requests + 1)])
        connection.execute(insert(Dispatch), [
            {"request_id": n, "provider_id": rng.randint(1, providers), "offered_at": now,
             "status": rng.choice([DispatchStatus.OFFERED, DispatchStatus.ACCEPTED])} for n in range(1, requests + 1)])
        connection.execute(insert(Complaint), [
            {"provider_id": rng.randint(1, providers), "description": "x", "status": "open",
             "created_at": now - dt.timedelta(days=rng.randint(0, 120))} for _ in range(complaints)])
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
        else:
            connection.execute(text("ANALYZE"))


def measure(engine, queries: int, seed: int = 11) -> dict:
    from db.dispatching import suggest_providers
    from db.models import Provider, ProviderStatus, provider_categories
    from db.session import make_session_factory

    sessions = make_session_factory(engine)
    rng = random.Random(seed)
    with sessions() as session:
        categories = [row[0] for row in session.execute(text("SELECT id FROM service_categories"))]
        districts = [row[0] for row in session.execute(text("SELECT id FROM districts"))]
    asks = [(rng.choice(categories), rng.choice(districts)) for _ in range(queries)]

    def bare(session, category, _district):
        return session.scalars(select(Provider.id).join(provider_categories)
                               .where(provider_categories.c.category_id == category, Provider.status == ProviderStatus.ACTIVE)
                               .limit(5)).all()

    def ours(session, category, district):
        return suggest_providers(session, category, district)

    results = {}
    for name, fn in (("bare", bare), ("ours", ours)):
        samples = []
        with sessions() as session:
            for category, district in asks[:20]:  # warm the caches
                fn(session, category, district)
            for category, district in asks:
                started = time.perf_counter()
                found = fn(session, category, district)
                samples.append(time.perf_counter() - started)
                assert len(found) == 5
        results[name] = percentiles(samples)
    return results


def run(providers: int = 50_000, requests: int = 20_000, complaints: int = 5_000, queries: int = 500) -> dict:
    results = {"providers": providers, "requests_in_hand": requests, "complaints": complaints, "queries": queries}
    results.update(on_both_databases(lambda engine: populate(engine, providers, requests, complaints),
                                     lambda engine, _folder: measure(engine, queries)))
    return results


def report(results: dict) -> str:
    lines = [f"B5 dispatch suggestions: {results['providers']:,} providers, {results['requests_in_hand']:,} requests in hand, "
             f"{results['complaints']:,} complaints; {results['queries']} asks (category, district)"]

    lines += backend_lines(results, lambda r: latency_line(r["ours"], r["bare"], "top-5", "bare select", P99_TARGET_MS, "bare"))
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
