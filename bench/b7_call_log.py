"""B7: the call log with 1,000,000 calls over 12 months: search pages and the CSV export.

The database (SQLite, as the demo; PostgreSQL too when reachable) holds 1,000,000 calls
spread over 12 months, one in twenty from a number ending 8000 (50,000 calls: page 500
exists), the rest from numbers whose last four digits spread evenly.
- search: call_log.search.page() for last four digits 8000 and the 12 months, sorted by
  time, page 1 and page 500 (its cursor found by walking once), beside a
  `SELECT count(*)` of the same rows in the same run. Target: p99 ≤ 50 ms.
- export: GET /calls/export.csv for every call (1,000,000 rows, through the console's
  route, read as a browser would, chunk by chunk), beside reading the same rows' columns
  from a bare cursor. Target: ≥ 50,000 rows/s, peak memory growth ≤ 50 MB (the export
  runs in a process of its own; growth is its peak RSS after the export less its peak
  after a warm-up export of 1,000 rows).
- KPI: the same calls answered, abandoned in the queue or in the IVR, each with its IVR
  session (a walk, a category) and the operators' logins and logouts; the month of
  October 2026 rolled up (`kpi.rollup`, as `hotline kpi rollup` does nightly), then
  GET /kpi?period=month for all queues through the console's route (figures, charts,
  tables), beside a `SELECT count(*)` of the month's calls in the same run; once, the
  month's figures from the raw rows, which must equal the rollup's. Target: p99 ≤ 300 ms.
"""
from __future__ import annotations

import multiprocessing
import resource
import time

from sqlalchemy import text

from bench.common import backend_lines, latency_line, on_both_databases, percentiles, series
from dialplans import contract

P99_TARGET_MS = 50.0
FAR_PAGE = 500
ROWS_PER_S_TARGET = 50_000
MEMORY_TARGET_MB = 50.0
FIRST_DAY, LAST_DAY = "2025-12-01", "2026-11-30"
KPI_P99_TARGET_MS = 300.0
KPI_MONTH = "2026-10-01"
KPI_ASKS = 60
SEARCH_SAMPLES = 300  # each search's timed runs, after 20 untimed


def populate(engine, calls: int) -> None:
    from db import migrate
    from db.demo_data import load_demo_data
    from db.session import make_session_factory, transaction
    import zoneinfo

    migrate.upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        load_demo_data(session, zoneinfo.ZoneInfo("Asia/Shanghai"))
    dialect = engine.dialect.name
    # Local 2025-12-01 00:00 is 2025-11-30 16:00 UTC; 365 days of calls from then on.
    stamp = ("datetime('2025-11-30 16:00:00', '+' || (n % 365) || ' days', '+' || (n % 86400 * 7919 % 86400) || ' seconds')"
             if dialect == "sqlite" else
             "timestamptz '2025-11-30 16:00:00+00' + (n % 365) * interval '1 day' + (n % 86400 * 7919 % 86400) * interval '1 second'")
    pad = (lambda value, width: f"substr('00000000' || CAST({value} AS TEXT), -{width}, {width})" if dialect == "sqlite"
           else f"lpad(CAST({value} AS TEXT), {width}, '0')")
    number = (f"CASE WHEN n % 20 = 0 THEN '139' || {pad('n / 20 % 10000', 4)} || '8000' "
              f"ELSE '137' || {pad('n % 100000000', 8)} END")
    outcomes = "CASE n % 10 WHEN 0 THEN 'abandoned_in_queue' WHEN 1 THEN 'abandoned_in_ivr' ELSE 'answered' END"

    def later(seconds: str) -> str:
        """The call's start plus `seconds` (an SQL expression)."""
        return (f"datetime({stamp}, '+' || ({seconds}) || ' seconds')" if dialect == "sqlite"
                else f"{stamp} + ({seconds}) * interval '1 second'")
    # The IVR takes 20 s; the queue's wait is n % 120 s; a talk lasts 60–659 s.
    queued = f"CASE WHEN n % 10 <> 1 THEN {later('20')} END"
    answered = f"CASE WHEN n % 10 > 1 THEN {later('20 + n % 120')} END"
    ended = (f"CASE n % 10 WHEN 0 THEN {later('20 + n % 120')} WHEN 1 THEN {later('1 + n % 40')} "
             f"ELSE {later('80 + n % 120 + n % 600')} END")
    head, source = series(dialect, calls)
    with engine.begin() as connection:
        operators = [row[0] for row in connection.execute(text("SELECT id FROM users ORDER BY id"))]
        connection.execute(text(
            f"{head}INSERT INTO calls (uniqueid, direction, caller_number, started_at, queue_entered_at, answered_at, "
            f"ended_at, outcome, ivr_language, ivr_path, queue, queue_wait_seconds, agent_id, recording_file) "
            f"SELECT 'b7.' || CAST(n AS TEXT), 'inbound', {number}, {stamp}, {queued}, {answered}, {ended}, {outcomes}, "
            f"CASE n % 3 WHEN 0 THEN 'cmn' WHEN 1 THEN 'yue' ELSE 'hak' END, 'welcome>main>family_services>medical', "
            f"'hotline-general', n % 120, CASE WHEN n % 10 > 1 THEN {operators[0]} + n % {len(operators)} END, "
            f"CASE WHEN n % 10 > 1 THEN '/var/spool/asterisk/monitor/hotline/' || CAST(n AS TEXT) || '.wav' END {source}"))
        _ivr_sessions_and_shifts(connection, dialect, operators)
        if dialect == "sqlite":
            connection.execute(text("ANALYZE"))
    if dialect == "postgresql":
        # What autovacuum would have done after a bulk load: statistics, and the visibility
        # map that lets count(*) answer from the index alone.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))


# A walk through the menus: welcome 1, main 1, family services 3; one call in ten refused a
# key at the main menu first; the IVR's abandons hung up at the main menu.
_WALK = ('{{"node": "welcome", "prompt": "welcome", "key": "1", "at": "2026-01-01T00:00:00+00:00"}}, '
         '{{"node": "main", "prompt": "main_menu", "key": "{first}", "at": "2026-01-01T00:00:05+00:00"}}')
_WALKS = {
    "plain": "[" + _WALK.format(first="1") + ', {"node": "family_services", "prompt": "family_menu", "key": "3", '
             '"at": "2026-01-01T00:00:09+00:00"}]',
    "refused": "[" + _WALK.format(first="8") + ', {"node": "main", "prompt": "invalid", "key": "1", '
               '"at": "2026-01-01T00:00:08+00:00"}, {"node": "family_services", "prompt": "family_menu", "key": "3", '
               '"at": "2026-01-01T00:00:12+00:00"}]',
    "hangup": "[" + _WALK.format(first="timeout") + ', {"node": "main", "prompt": null, "key": "hangup", '
              '"at": "2026-01-01T00:00:10+00:00"}]',
}


def _ivr_sessions_and_shifts(connection, dialect: str, operators: list[int]) -> None:
    """Each call's IVR session, and each operator's day: logged in 08:00 to 20:00 local."""
    json = (lambda value: f"'{value}'") if dialect == "sqlite" else (lambda value: f"CAST('{value}' AS JSON)")
    steps = (f"CASE WHEN c.outcome = 'abandoned_in_ivr' THEN {json(_WALKS['hangup'])} "
             f"WHEN c.id % 10 = 5 THEN {json(_WALKS['refused'])} ELSE {json(_WALKS['plain'])} END")
    chose = {code: json(f'{{"{contract.CATEGORY}": "{code}"}}') for code in ("medical", "household", "repair", "")}
    result = (f"CASE c.id % 4 WHEN 0 THEN {chose['medical']} WHEN 1 THEN {chose['household']} "
              f"WHEN 2 THEN {chose['repair']} ELSE {chose['']} END")
    if dialect == "postgresql":
        # Rows made from the calls themselves need no foreign-key check; the check locks each
        # call row (FOR KEY SHARE), which made this load take over half an hour at 1M calls.
        connection.execute(text("SET LOCAL session_replication_role = replica"))
    connection.execute(text(
        f"INSERT INTO ivr_sessions (call_id, script, language, started_at, outcome, steps, result) "
        f"SELECT c.id, 'menu', c.ivr_language, c.started_at, "
        f"CASE WHEN c.outcome = 'abandoned_in_ivr' THEN 'abandoned' ELSE 'routed' END, {steps}, {result} FROM calls c"))
    if dialect == "postgresql":
        connection.execute(text("SET LOCAL session_replication_role = DEFAULT"))
    # Local 08:00 is 00:00 UTC and 20:00 is 12:00 UTC; one day a row, for the year and its edges.
    day = ("datetime('2025-11-29', '+' || n || ' days')" if dialect == "sqlite"
           else "timestamptz '2025-11-29 00:00:00+00' + n * interval '1 day'")
    head, source = series(dialect, 370)
    for state, hours in (("logged_in", 0), ("logged_out", 12)):
        for operator in operators:
            at = (f"datetime({day}, '+{hours} hours')" if dialect == "sqlite" else f"{day} + interval '{hours} hours'")
            connection.execute(text(f"{head}INSERT INTO operator_state_changes (user_id, state, at, source) "
                                    f"SELECT {operator}, '{state}', {at}, 'ami' {source}"))


def _search(engine, session_factory, tz, samples: int) -> dict:
    from call_log import search
    from call_log.schemas import parse_filter

    call_filter = parse_filter({"number": "8000", "date_from": FIRST_DAY, "date_to": LAST_DAY}, tz).filter
    count_sql = text("SELECT count(*) FROM calls WHERE caller_last4 = '8000' AND started_at >= :start AND started_at < :end")
    with session_factory() as session:
        bounds = {"start": call_filter.start, "end": call_filter.end}
        if engine.dialect.name == "sqlite":
            bounds = {k: v.replace(tzinfo=None) for k, v in bounds.items()}
        matching = session.execute(count_sql, bounds).scalar()
        # Page 500, or the last full page of a smaller run (the smoke test's).
        far_page = min(FAR_PAGE, matching // search.PAGE_SIZE)
        cursor = None
        for _ in range(far_page - 1):  # the cursor that starts it, found by walking once
            cursor = search.page(session, call_filter, cursor).next_cursor
        results = {"matching": matching, "far_page": far_page}
        for name, run in (("count", lambda: session.execute(count_sql, bounds).scalar()),
                          ("page_1", lambda: search.page(session, call_filter, None)),
                          ("page_far", lambda: search.page(session, call_filter, cursor))):
            for _ in range(20):
                run()
            timings = []
            for _ in range(samples):
                started = time.perf_counter()
                run()
                timings.append(time.perf_counter() - started)
            results[name] = percentiles(timings)
        assert len(search.page(session, call_filter, cursor).rows) == search.PAGE_SIZE, "the far page is not full"
    return results


def _export_in_own_process(url: str, folder: str, replies) -> None:
    """The export, in a fresh process so its peak memory is its own."""
    from agent_console import create_app
    from agent_console.services import ConsoleServices
    from config import load_settings
    from db.session import make_engine, make_session_factory
    from telephony.pop_bus import InProcessBus

    settings = load_settings(environ={}, overrides={"database.url": url, "app.data_dir": folder})
    app = create_app({"WTF_CSRF_ENABLED": False},
                     services=ConsoleServices(settings, make_session_factory(make_engine(url)), InProcessBus()))
    client = app.test_client()
    assert client.post("/login", data={"username": "supervisor", "password": "supervisor-demo-2026"}).status_code == 302

    def export(query: str) -> tuple[int, int, float]:
        started = time.perf_counter()
        with client.get(f"/calls/export.csv{query}", buffered=False) as response:
            lines = size = 0
            for chunk in response.response:
                lines += chunk.count(b"\n")
                size += len(chunk)
        return lines - 1, size, time.perf_counter() - started

    export("?number=8000&date_to=2025-12-02")  # warm-up: imports, templates, caches
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows, size, seconds = export("")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    replies.put({"rows": rows, "bytes": size, "seconds": seconds, "rows_per_s": rows / seconds,
                 "memory_growth_mb": (after - before) / 1024})


def _bare_read(engine) -> dict:
    """The same rows' columns read from a bare cursor: what reading costs before any writing."""
    from call_log.search import ROW_COLUMNS  # noqa: F401  (the columns the export reads)

    started = time.perf_counter()
    rows = 0
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=2000).execute(text(
            "SELECT c.id, c.uniqueid, c.started_at, c.answered_at, c.ended_at, c.caller_number, c.ivr_language, "
            "c.ivr_path, c.queue, c.queue_wait_seconds, u.display_name, c.outcome, c.hangup_cause, c.recording_file "
            "FROM calls c LEFT JOIN users u ON u.id = c.agent_id ORDER BY c.started_at DESC, c.id DESC"))
        for _ in result:
            rows += 1
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}


def measure(engine, folder: str, calls: int, search_samples: int, kpi_asks: int) -> dict:
    from db.session import make_session_factory
    import zoneinfo

    results = {"search": _search(engine, make_session_factory(engine), zoneinfo.ZoneInfo("Asia/Shanghai"), search_samples)}
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "postgresql":
        # The private schema goes with the URL: the export process opens its own engine.
        schema = engine.dialect.default_schema_name or ""
        with engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar()
        url += f"?options=-csearch_path%3D{schema}"
    context = multiprocessing.get_context("spawn")
    replies = context.Queue()
    process = context.Process(target=_export_in_own_process, args=(url, folder, replies))
    process.start()
    results["export"] = replies.get(timeout=1800)
    process.join(60)
    assert results["export"]["rows"] == calls, f"exported {results['export']['rows']} of {calls} calls"
    results["bare_read"] = _bare_read(engine)
    results["kpi"] = _kpi(engine, folder, url, kpi_asks)
    return results


def _kpi(engine, folder: str, url: str, asks: int) -> dict:
    """The month rolled up, then its KPI page asked `asks` times beside a count(*)."""
    import datetime as dt

    from agent_console import create_app
    from agent_console.services import ConsoleServices
    from config import load_settings
    from db.base import utcnow
    from db.session import make_session_factory, transaction
    from kpi import facts, rollup
    from kpi.report import period_of
    from telephony.pop_bus import InProcessBus

    settings = load_settings(environ={}, overrides={"database.url": url, "app.data_dir": folder})
    sessions = make_session_factory(engine)
    month = period_of("month", dt.date.fromisoformat(KPI_MONTH))
    now = utcnow()
    started = time.perf_counter()
    with transaction(sessions) as session:
        rollup.build_days(session, month.first, month.last, settings.tz, now)
    rollup_seconds = time.perf_counter() - started
    start, end = facts.local_day_bounds(month.first, settings.tz)[0], facts.local_day_bounds(month.last, settings.tz)[1]
    with sessions() as session:
        started = time.perf_counter()
        raw = facts.period_tallies(session, start, end, settings.tz)
        raw_seconds = time.perf_counter() - started
        by_day = rollup.day_tallies(session, month.first, month.last, "queue", settings.tz, now)
        summed = {}
        for tallies in by_day.values():
            for key, tally in tallies.items():
                summed.setdefault(key, type(tally)()).add(tally)
        equal = all(summed[key] == raw[key] for key in raw if key[0] in ("all", "queue"))
    app = create_app({"WTF_CSRF_ENABLED": False}, services=ConsoleServices(settings, sessions, InProcessBus()))
    client = app.test_client()
    assert client.post("/login", data={"username": "supervisor", "password": "supervisor-demo-2026"}).status_code == 302
    page = f"/kpi?period=month&date={KPI_MONTH}&by=queue"
    count_sql = text("SELECT count(*) FROM calls WHERE started_at >= :start AND started_at < :end")
    bounds = {"start": start, "end": end}
    if engine.dialect.name == "sqlite":
        bounds = {k: v.replace(tzinfo=None) for k, v in bounds.items()}
    with sessions() as session:
        month_calls = session.execute(count_sql, bounds).scalar()

        def ask_page():
            response = client.get(page)
            assert response.status_code == 200 and b"data:image/svg+xml" in response.data

        results = {"month_calls": month_calls, "rollup_days": len(month.days), "rollup_seconds": rollup_seconds,
                   "raw_seconds": raw_seconds, "rollup_equals_raw": equal}
        for name, run in (("count", lambda: session.execute(count_sql, bounds).scalar()), ("page", ask_page)):
            for _ in range(3):
                run()
            samples = []
            for _ in range(asks):
                began = time.perf_counter()
                run()
                samples.append(time.perf_counter() - began)
            results[name] = percentiles(samples)
    return results


def run(calls: int = 1_000_000, search_samples: int = SEARCH_SAMPLES, kpi_asks: int = KPI_ASKS) -> dict:
    results = {"calls": calls}
    results.update(on_both_databases(lambda engine: populate(engine, calls),
                                     lambda engine, folder: measure(engine, folder, calls, search_samples, kpi_asks)))
    return results


def _lines(r: dict) -> str:
    s, e, bare, k = r["search"], r["export"], r["bare_read"], r["kpi"]
    met_rate = "met" if e["rows_per_s"] >= ROWS_PER_S_TARGET else "NOT met"
    met_memory = "met" if e["memory_growth_mb"] <= MEMORY_TARGET_MB else "NOT met"
    return "\n".join([
        f"{s['matching']:,} calls match 8000 and the 12 months",
        "    page 1: " + latency_line(s["page_1"], s["count"], "search", "SELECT count(*)", P99_TARGET_MS, "count"),
        f"    page {s['far_page']}: " + latency_line(s["page_far"], s["count"], "search", "SELECT count(*)", P99_TARGET_MS, "count"),
        f"    CSV export: {e['rows']:,} rows in {e['seconds']:.1f} s, {e['rows_per_s']:,.0f} rows/s "
        f"(target ≥ {ROWS_PER_S_TARGET:,}: {met_rate}), {e['bytes'] / 2**20:.0f} MB; peak memory growth "
        f"{e['memory_growth_mb']:.1f} MB (target ≤ {MEMORY_TARGET_MB:.0f} MB: {met_memory}); "
        f"bare cursor read {bare['rows_per_s']:,.0f} rows/s",
        f"    KPI month ({k['month_calls']:,} calls): " + latency_line(k["page"], k["count"], "page", "SELECT count(*)",
                                                                  KPI_P99_TARGET_MS, "count"),
        f"      rollup of {k['rollup_days']} days {k['rollup_seconds']:.1f} s; the month from the raw rows "
        f"{k['raw_seconds']:.1f} s; rollup equals raw: {'yes' if k['rollup_equals_raw'] else 'NO'}",
    ])


def report(results: dict) -> str:
    lines = [f"B7 call log: {results['calls']:,} calls over 12 months"]
    lines += backend_lines(results, _lines)
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
