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
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select, text

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


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"p50_ms": statistics.median(ordered) * 1000, "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
            "mean_ms": statistics.fmean(ordered) * 1000}


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
        results[name] = _percentiles(samples)
    return results


def run(providers: int = 50_000, requests: int = 20_000, complaints: int = 5_000, queries: int = 500) -> dict:
    from db.session import make_engine

    results = {"providers": providers, "requests_in_hand": requests, "complaints": complaints, "queries": queries}
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'b5.sqlite3'}")
        populate(engine, providers, requests, complaints)
        results["sqlite"] = measure(engine, queries)
        engine.dispose()
    postgres = _postgres_engine()
    if postgres is not None:
        engine, drop = postgres
        try:
            populate(engine, providers, requests, complaints)
            results["postgresql"] = measure(engine, queries)
        finally:
            drop()
    return results


def _postgres_engine():
    import uuid

    from sqlalchemy.exc import OperationalError

    from db.session import make_engine

    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    admin = make_engine(url, connect_args={"connect_timeout": 3})
    schema = f"hotline_b5_{uuid.uuid4().hex[:8]}"
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError:
        admin.dispose()
        return None
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})

    def drop():
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return engine, drop


def report(results: dict) -> str:
    lines = [f"B5 dispatch suggestions: {results['providers']:,} providers, {results['requests_in_hand']:,} requests in hand, "
             f"{results['complaints']:,} complaints; {results['queries']} asks (category, district)"]
    for backend in ("sqlite", "postgresql"):
        if backend not in results:
            lines.append(f"  {backend}: not measured (server unreachable)")
            continue
        bare, ours = results[backend]["bare"], results[backend]["ours"]
        met = "met" if ours["p99_ms"] <= P99_TARGET_MS else "NOT met"
        lines.append(f"  {backend}: top-5 p50 {ours['p50_ms']:.2f} ms, p99 {ours['p99_ms']:.2f} ms "
                     f"(target ≤ {P99_TARGET_MS:.0f} ms: {met}); bare select p50 {bare['p50_ms']:.2f} ms, "
                     f"p99 {bare['p99_ms']:.2f} ms; ours/bare p99 {ours['p99_ms'] / bare['p99_ms']:.1f}×")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
