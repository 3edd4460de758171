"""B3: the screen pop's caller-history lookup with 1,000,000 calls, beside a Flask hello route.

The database (SQLite, as the demo; PostgreSQL too when reachable) holds 50,000 callers
with 1,000,000 calls between them (a few heavy callers with thousands), 100,000
requests with their dispatches and 10,000 complaints. Both are measured in the same
process through Flask's test client, signed in as an operator:
- hello: a route that returns "hello" (Flask, routing, the session cookie);
- ours: GET /pop/<uniqueid>?offer=<signed offer>: the call, the caller, their last requests with status and
  provider, latest ratings and complaints, rendered as the pop's HTML.
Target: ours p99 ≤ 20 ms.
"""
from __future__ import annotations

import random
import time

from sqlalchemy import text

from bench.common import backend_lines, latency_line, on_both_databases, percentiles, series

P99_TARGET_MS = 20.0
def populate(engine, callers: int, calls: int, requests: int, complaints: int) -> None:
    from db import migrate
    from db.demo_data import load_demo_data
    from db.session import make_session_factory, transaction

    migrate.upgrade(engine)
    import zoneinfo
    with transaction(make_session_factory(engine)) as session:
        load_demo_data(session, zoneinfo.ZoneInfo("Asia/Shanghai"))
    dialect = engine.dialect.name
    concat = (lambda *parts: " || ".join(parts))
    stamp = ("datetime('2025-01-01', '+' || (n % 600) || ' days', '+' || (n % 86400) || ' seconds')" if dialect == "sqlite"
             else "timestamptz '2025-01-01' + (n % 600) * interval '1 day' + (n % 86400) * interval '1 second'")
    text_n = "CAST(n AS TEXT)"
    phone = ("'137' || substr('00000000' || CAST(n AS TEXT), -8, 8)" if dialect == "sqlite"
             else "'137' || lpad(CAST(n AS TEXT), 8, '0')")
    with engine.begin() as connection:
        offset = connection.execute(text("SELECT coalesce(max(id), 0) FROM callers")).scalar()
        head, source = series(dialect, callers)
        connection.execute(text(
            f"{head}INSERT INTO callers (id, phone, phone_kind, language, do_not_call, created_at) "
            f"SELECT n + {offset}, {phone}, "
            f"'mobile', 'cmn', false, {stamp} {source}"))
        # Most callers call a few times; every 1000th caller calls thousands of times.
        head, source = series(dialect, calls)
        connection.execute(text(
            f"{head}INSERT INTO calls (uniqueid, direction, caller_id, caller_number, started_at, outcome, ivr_language, queue) "
            f"SELECT {concat(repr('b3.'), text_n)}, 'inbound', "
            f"CASE WHEN n % 10 = 0 THEN {offset} + 1 + (n % ({callers} / 1000)) * 1000 ELSE {offset} + 1 + (n % {callers}) END, "
            f"'13700000000', {stamp}, 'answered', 'cmn', 'general' {source}"))
        head, source = series(dialect, requests)
        connection.execute(text(
            f"{head}INSERT INTO service_requests (number, caller_id, category_id, description, channel, status, priority, "
            f"created_at, updated_at) SELECT {concat(repr('B3-'), text_n)}, {offset} + 1 + (n % {callers}), "
            f"1 + (n % 10), '', 'phone', CASE WHEN n % 3 = 0 THEN 'closed' ELSE 'dispatched' END, 'normal', {stamp}, {stamp} {source}"))
        connection.execute(text(
            "INSERT INTO dispatches (request_id, provider_id, status, offered_at) "
            "SELECT id, 1 + (id % 48), 'accepted', created_at FROM service_requests WHERE number LIKE 'B3-%'"))
        head, source = series(dialect, complaints)
        connection.execute(text(
            f"{head}INSERT INTO complaints (caller_id, provider_id, description, status, created_at) "
            f"SELECT {offset} + 1 + (n * 7 % {callers}), 1 + (n % 48), 'x', 'open', {stamp} {source}"))
        connection.execute(text("ANALYZE"))


def measure(engine, callers: int, calls: int, requests_count: int, settings_dir: str, asks: int = 1_000) -> dict:
    from agent_console import create_app
    from agent_console.auth import public
    from agent_console.services import ConsoleServices
    from config import load_settings
    from db.session import make_session_factory
    from telephony.pop_bus import InProcessBus

    settings = load_settings(environ={}, overrides={"database.url": str(engine.url.render_as_string(hide_password=False)),
                                                    "app.data_dir": settings_dir})
    app = create_app({"WTF_CSRF_ENABLED": False}, services=ConsoleServices(settings, make_session_factory(engine), InProcessBus()))
    app.add_url_rule("/bench/hello", "bench_hello", public(lambda: "hello"))
    client = app.test_client()
    response = client.post("/login", data={"username": "operator", "password": "operator-demo-2026"})
    assert response.status_code == 302, "bench sign-in failed"
    rng = random.Random(5)
    # Half the asks are the heavy callers: the lookup must not grow with their calls.
    uniqueids = [f"b3.{rng.randrange(1, calls // 10) * 10 if i % 2 else rng.randrange(1, calls)}" for i in range(asks)]
    # Asked as console.js asks: with the offer the pop stream signed for this operator.
    with app.app_context():
        from sqlalchemy import select

        from agent_console.calls import sign_offer
        from db.models import User

        with app.extensions["hotline"].sessions() as session:
            operator_id = session.scalar(select(User.id).where(User.username == "operator"))
        pops = [f"/pop/{u}?offer={sign_offer(operator_id, u)}" for u in uniqueids]
    results = {}
    for name, paths in (("hello", ["/bench/hello"] * len(uniqueids)), ("ours", pops)):
        for path in paths[:30]:
            client.get(path)
        samples = []
        for path in paths:
            started = time.perf_counter()
            response = client.get(path)
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200
        results[name] = percentiles(samples)
    page = client.get(pops[1]).get_data(as_text=True)
    assert "B3-" in page or "HY" in page, "the pop showed no request history"
    return results


def run(callers: int = 50_000, calls: int = 1_000_000, requests: int = 100_000, complaints: int = 10_000,
        asks: int = 1_000) -> dict:
    results = {"callers": callers, "calls": calls, "requests": requests, "complaints": complaints, "asks": asks}
    results.update(on_both_databases(lambda engine: populate(engine, callers, calls, requests, complaints),
                                     lambda engine, folder: measure(engine, callers, calls, requests, folder, asks)))
    return results


def report(results: dict) -> str:
    lines = [f"B3 caller history (screen pop): {results['calls']:,} calls, {results['callers']:,} callers, "
             f"{results['requests']:,} requests, {results['complaints']:,} complaints; {results.get('asks', 1_000):,} pops"]

    lines += backend_lines(results, lambda r: latency_line(r["ours"], r["hello"], "pop", "Flask hello", P99_TARGET_MS, "hello"))
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
