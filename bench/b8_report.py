"""B8: the industry report and the monthly regrade at two years of a city's records.

The database (SQLite, as the demo; PostgreSQL too when reachable) holds 2,000 providers,
30,000 workers (a certificate each, training for every other one) and 500,000 requests
over the 24 months 2024-12 to 2026-11: nine in ten dispatched to a provider that
accepted, half surveyed with a rating, one in a hundred complained about.
- regrade: supervision.grading.regrade() of every provider (the monthly cron job), beside
  a baseline query of the same rows (each provider's ratings of the rule's 90 days,
  grouped). Target: ≤ 5 s.
- HTML: GET /reports/2026 (the annual report, through the console as a supervisor: its
  eleven months beside the whole of 2025), beside `SELECT count(*)` of the year's
  requests. Target: ≤ 2 s.
- PDF: GET /reports/2026.pdf, beside the same count and WeasyPrint writing a one-line
  page in the same font (its fixed cost). Target: ≤ 10 s.
Rows are made by the database itself (bench.common.series): no Python round trip a row.
The requests' daily tallies are rolled up after the fill, as the nightly `hotline kpi
rollup` keeps them (timed: the first rollup of two years, a one-off).
"""
from __future__ import annotations

import datetime as dt
import statistics
import time

from sqlalchemy import text

from bench.common import backend_lines, on_both_databases, series

REGRADE_TARGET_S, HTML_TARGET_S, PDF_TARGET_S = 5.0, 2.0, 10.0
YEAR = "2026"  # January to November, beside the whole of 2025 (the key figures' previous year)
# The rule's clock: the day after the data ends (2026-11-30 local), so its 90 days hold ratings.
REGRADE_AT = dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.timezone.utc)
SUPERVISOR_PASSWORD = "supervisor-demo-2026"


def populate(engine, providers: int, workers: int, requests: int) -> None:
    from db import migrate
    from db.models import Role
    from db.reference import ensure_reference_data
    from db.session import make_session_factory, transaction
    from db.users import create_user

    migrate.upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        ensure_reference_data(session)
        create_user(session, "supervisor", SUPERVISOR_PASSWORD, Role.SUPERVISOR, "李姐", "1002")
    dialect = engine.dialect.name
    sqlite = dialect == "sqlite"

    def at(base: str, days: str, seconds: str = "0") -> str:
        """A UTC time: base plus whole days and seconds, in the database's own arithmetic."""
        if sqlite:
            return f"datetime('{base}', '+' || ({days}) || ' days', '+' || ({seconds}) || ' seconds')"
        return f"(timestamptz '{base}+00' + ({days}) * interval '1 day' + ({seconds}) * interval '1 second')"

    def day(base: str, days: str) -> str:
        return f"date('{base}', '+' || ({days}) || ' days')" if sqlite else f"(date '{base}' + ({days}))"

    def run(count: int, sql: str) -> None:
        head, source = series(dialect, count)
        with engine.begin() as connection:
            connection.execute(text(sql.format(head=head, source=source)))

    with engine.connect() as connection:
        category = connection.execute(text("SELECT min(id) FROM service_categories")).scalar()
        district = connection.execute(text("SELECT min(id) FROM districts")).scalar()
    callers = max(requests // 50, 10)
    run(callers, "{head}INSERT INTO callers (phone, phone_kind, do_not_call, created_at) "
                 "SELECT '139' || CAST(10000000 + n AS TEXT), 'mobile', false, " + at("2024-11-01 00:00:00", "0") + " {source}")
    run(providers, "{head}INSERT INTO providers (name, licence_number, phone, district_id, rating_count, capacity, status, "
                   "grade_overridden, override_renewed, created_at) "
                   f"SELECT '企业' || CAST(n AS TEXT), 'B8' || CAST(n AS TEXT), '0762' || CAST(n AS TEXT), {district} + n % 6, "
                   f"0, 5, 'active', false, false, {at('2022-01-01 00:00:00', 'n % 1000')} {{source}}")
    with engine.connect() as connection:
        provider = connection.execute(text("SELECT min(id) FROM providers")).scalar()
        caller = connection.execute(text("SELECT min(id) FROM callers")).scalar()
    run(workers, "{head}INSERT INTO workers (provider_id, name, active, created_at) "
                 f"SELECT {provider} + n % {providers}, '阿姨' || CAST(n AS TEXT), n % 20 <> 0, "
                 f"{at('2023-01-01 00:00:00', 'n % 600')} {{source}}")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO certificates (worker_id, kind, number, issued_on, expires_on) "
            "SELECT id, CASE id % 3 WHEN 0 THEN '健康证' WHEN 1 THEN '家政服务员证' ELSE '养老护理员证' END, "
            f"'C' || CAST(id AS TEXT), {day('2023-06-01', 'id % 700')}, {day('2024-06-01', 'id % 700 + 365 * (id % 3)')} "
            "FROM workers"))
        connection.execute(text(
            "INSERT INTO trainings (worker_id, course, completed_on, hours) "
            f"SELECT id, '家政服务职业道德', {day('2024-12-01', 'id % 730')}, 8 * (1 + id % 3) FROM workers WHERE id % 2 = 0"))
    # Status by n % 10: 0 cancelled, 1 new, 2 dispatched, 3 in service, 4 completed, 5-9 surveyed.
    status = ("CASE n % 10 WHEN 0 THEN 'cancelled' WHEN 1 THEN 'new' WHEN 2 THEN 'dispatched' "
              "WHEN 3 THEN 'in_service' WHEN 4 THEN 'completed' ELSE 'surveyed' END")
    created = at("2024-11-30 16:00:00", "n % 730", "n % 86400 * 7919 % 86400")
    run(requests, "{head}INSERT INTO service_requests (number, caller_id, category_id, district_id, description, priority, "
                  "channel, status, created_at, updated_at) "
                  f"SELECT 'B8-' || CAST(n AS TEXT), {caller} + n % {callers}, {category} + n / 7 % 10, {district} + n % 7, '', "
                  f"'normal', 'phone', {status}, {created}, {created} {{source}}")
    offered = at("2024-11-30 16:00:00", "n % 730", "n % 86400 * 7919 % 86400 + 3600")
    responded = at("2024-11-30 16:00:00", "n % 730", "n % 86400 * 7919 % 86400 + 3600 + 60 * (n % 40)")
    with engine.begin() as connection:
        # A request's provider is n / 10 (not n, which sets its status): every provider has
        # requests of every status. The request's n is recovered from its number, so every time matches the request's.
        number = "CAST(substr(number, 4) AS INTEGER)"
        connection.execute(text(
            f"INSERT INTO dispatches (request_id, provider_id, status, offered_at, responded_at) "
            f"SELECT id, {provider} + n / 10 % {providers}, 'accepted', {offered}, {responded} "
            f"FROM (SELECT id, {number} AS n FROM service_requests WHERE status <> 'new' AND status <> 'cancelled') AS r"))
        surveyed = at("2024-11-30 16:00:00", "n % 730 + 3", "n % 86400 * 7919 % 86400")
        rating = "CASE n % 10 WHEN 0 THEN 2 WHEN 1 THEN 3 WHEN 2 THEN 4 WHEN 3 THEN 4 WHEN 4 THEN 4 ELSE 5 END"
        connection.execute(text(
            f"INSERT INTO surveys (request_id, caller_id, provider_id, language, due_at, status, attempt_count, rating, "
            f"completed_at, created_at) "
            f"SELECT id, caller_id, {provider} + n / 10 % {providers}, 'cmn', {surveyed}, 'completed', 1, {rating}, {surveyed}, "
            f"{surveyed} FROM (SELECT id, caller_id, {number} AS n FROM service_requests WHERE status = 'surveyed') AS r"))
        connection.execute(text(
            f"INSERT INTO complaints (caller_id, request_id, provider_id, description, status, upheld, created_at) "
            f"SELECT caller_id, id, {provider} + n / 10 % {providers}, '服务不满意', "
            f"CASE WHEN n % 3 = 0 THEN 'open' ELSE 'resolved' END, CASE WHEN n % 3 = 1 THEN true END, {surveyed} "
            f"FROM (SELECT id, caller_id, {number} AS n FROM service_requests WHERE status = 'surveyed') AS r "
            f"WHERE n % 50 = 5"))
        if sqlite:
            connection.execute(text("ANALYZE"))
    if not sqlite:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))


def roll_up(engine) -> float:
    """The requests' and surveys' daily tallies of every ended day (the first nightly
    rollup: every day, the triggers' changes of the fill taken in); its seconds."""
    from db import request_tallies
    from db.base import utcnow
    from db.session import make_session_factory, transaction
    from reports.period import LOCAL

    started = time.perf_counter()
    with transaction(make_session_factory(engine)) as session:
        request_tallies.build(session, LOCAL, utcnow())
    seconds = time.perf_counter() - started
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    return seconds


def _timed(function, repeats: int) -> dict:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return {"median_s": statistics.median(samples), "max_s": max(samples), "runs": repeats}


def _regrade(engine, repeats: int) -> dict:
    from db.session import make_session_factory
    from supervision import grading
    from supervision.rule import load_rule

    rule = load_rule()
    factory = make_session_factory(engine)
    since = REGRADE_AT - dt.timedelta(days=rule.rating_days)
    baseline_sql = text("SELECT provider_id, count(rating), avg(rating) FROM surveys WHERE status = 'completed' "
                        "AND rating IS NOT NULL AND completed_at >= :since AND completed_at <= :now GROUP BY provider_id")
    bounds = {"since": since, "now": REGRADE_AT}
    if engine.dialect.name == "sqlite":
        bounds = {key: value.replace(tzinfo=None) for key, value in bounds.items()}
    counts = {}

    def regrade_once():
        with factory() as session:
            counts.update(grading.regrade(session, rule, now=REGRADE_AT))
            session.rollback()  # every run grades the same records

    def baseline():
        with engine.connect() as connection:
            connection.execute(baseline_sql, bounds).all()

    return {"ours": _timed(regrade_once, repeats), "baseline": _timed(baseline, repeats), "counts": dict(counts)}


def _console(engine, folder: str):
    from agent_console import create_app
    from agent_console.services import ConsoleServices
    from config import load_settings
    from db.session import make_session_factory
    from telephony.pop_bus import InProcessBus

    url = engine.url.render_as_string(hide_password=False)
    settings = load_settings(environ={}, overrides={"database.url": url, "app.data_dir": folder})
    app = create_app({"WTF_CSRF_ENABLED": False},
                     services=ConsoleServices(settings, make_session_factory(engine), InProcessBus()))
    client = app.test_client()
    signed_in = client.post("/login", data={"username": "supervisor", "password": SUPERVISOR_PASSWORD})
    assert signed_in.status_code == 302, "the benchmark's supervisor could not sign in"
    return client


def _report(engine, folder: str, repeats: int, warm_up: bool) -> dict:
    import weasyprint

    from reports.period import Period

    client = _console(engine, folder)
    year = Period.parse(YEAR)
    bounds = {"start": year.start, "end": year.end}
    if engine.dialect.name == "sqlite":
        bounds = {key: value.replace(tzinfo=None) for key, value in bounds.items()}
    count_sql = text("SELECT count(*) FROM service_requests WHERE created_at >= :start AND created_at < :end")
    requests = {}

    def count():
        with engine.connect() as connection:
            requests["year"] = connection.execute(count_sql, bounds).scalar()

    def get(path: str):
        def fetch():
            response = client.get(path)
            assert response.status_code == 200, f"{path}: {response.status_code}"
            requests[path] = len(response.data)
        return fetch

    def hello_pdf():
        weasyprint.HTML(string="<p style='font-family: WenQuanYi Micro Hei'>河源市家政服务行业统计年报</p>").write_pdf()

    if warm_up:  # imports, templates, fonts
        get(f"/reports/{YEAR}")(), get(f"/reports/{YEAR}.pdf")(), hello_pdf()
    return {"html": _timed(get(f"/reports/{YEAR}"), repeats), "pdf": _timed(get(f"/reports/{YEAR}.pdf"), max(1, repeats // 2)),
            "count": _timed(count, repeats), "hello_pdf": _timed(hello_pdf, max(1, repeats // 2)),
            "year_requests": requests["year"], "pdf_bytes": requests[f"/reports/{YEAR}.pdf"]}


def run(providers: int = 2_000, workers: int = 30_000, requests: int = 500_000, repeats: int = 5,
        warm_up: bool = True) -> dict:
    """warm_up: render the report (HTML and PDF) once before timing it; without, the first
    run's imports and font loading are timed too (the smoke test's one run)."""
    def fill(engine):
        started = time.perf_counter()
        populate(engine, providers, workers, requests)
        fill_seconds[engine.dialect.name] = time.perf_counter() - started
        rollup_seconds[engine.dialect.name] = roll_up(engine)

    def measure(engine, folder):
        return {"fill_s": fill_seconds[engine.dialect.name], "rollup_s": rollup_seconds[engine.dialect.name],
                "regrade": _regrade(engine, repeats), **_report(engine, folder, repeats, warm_up)}

    fill_seconds: dict[str, float] = {}
    rollup_seconds: dict[str, float] = {}
    results = on_both_databases(fill, measure)
    return {"providers": providers, "workers": workers, "requests": requests, **results}


def report(results: dict) -> str:
    def verdict(seconds: float, target: float) -> str:
        return f"target ≤ {target:g} s: {'met' if seconds <= target else 'NOT met'}"

    def line(r: dict) -> str:
        regrade, html, pdf = r["regrade"], r["html"], r["pdf"]
        return (f"filled in {r['fill_s']:.1f} s, rolled up in {r['rollup_s']:.1f} s; "
                f"regrade {regrade['ours']['max_s']:.2f} s "
                f"({verdict(regrade['ours']['max_s'], REGRADE_TARGET_S)}; baseline grouped ratings "
                f"{regrade['baseline']['median_s'] * 1000:.0f} ms; {regrade['counts']}); "
                f"annual HTML {html['max_s']:.2f} s, median {html['median_s']:.2f} s "
                f"({verdict(html['max_s'], HTML_TARGET_S)}); "
                f"PDF {pdf['max_s']:.2f} s, median {pdf['median_s']:.2f} s ({verdict(pdf['max_s'], PDF_TARGET_S)}); "
                f"baseline count of the year's {r['year_requests']:,} requests {r['count']['median_s'] * 1000:.0f} ms, "
                f"one-line WeasyPrint PDF {r['hello_pdf']['median_s'] * 1000:.0f} ms")

    head = (f"B8 — {results['providers']:,} providers, {results['workers']:,} workers, {results['requests']:,} requests "
            f"over two years (worst of the runs; baselines are medians)")
    return "\n".join([head, *backend_lines(results, line)])
