"""B4: 100,000 surveys queued and claimed, beside a raw claim loop on the same database.

100,000 completed requests (one caller each, the accepted provider recorded):
- enqueue: schedule_completed() queues a survey for each (one INSERT … SELECT);
- ours: claim() in batches of 500 with the calling window, the per-caller daily cap,
  the channel and calls-per-second caps (set high: this measures the claim itself), on a
  simulated clock that walks through a day from 06:00, a minute per batch; every claim
  made outside the calling window is counted as a violation;
- raw: the same batches as a bare UPDATE … WHERE id IN (SELECT … LIMIT 500) RETURNING;
- bare enqueue: the same 100,000 rows into the emptied table by a bare INSERT … SELECT
  (on PostgreSQL the table's indexes and foreign keys are most of an enqueue's cost).
Both enqueues also give the database's CPU seconds (PostgreSQL's server process, when it
runs on this machine; SQLite's, this process's): on a shared machine they move less than
wall time.
Targets: enqueue ≤ 2 s, ≥ 5,000 claims/s, zero quiet-hour violations.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
import zoneinfo

from sqlalchemy import text

from bench.common import backend_lines, cpu_spent, database_cpu, on_both_databases, series

ENQUEUE_TARGET_S = 2.0
CLAIMS_TARGET = 5_000
BATCH = 500
TZ = zoneinfo.ZoneInfo("Asia/Shanghai")


def populate(engine, requests: int) -> None:
    from db import migrate
    from db.reference import ensure_reference_data
    from db.session import make_session_factory, transaction

    migrate.upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        ensure_reference_data(session)
    dialect = engine.dialect.name
    phone = ("'135' || substr('00000000' || CAST(n AS TEXT), -8, 8)" if dialect == "sqlite"
             else "'135' || lpad(CAST(n AS TEXT), 8, '0')")
    day = "'2026-11-26 02:00:00'" if dialect == "sqlite" else "timestamptz '2026-11-26 02:00:00+00'"
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO providers (id, name, licence_number, phone, rating_count, capacity, status, "
                                f"created_at) VALUES (1, 'p', 'L', '13900000000', 0, 5, 'active', {day})"))
        for statement in (
            f"INSERT INTO callers (id, phone, phone_kind, language, do_not_call, created_at) "
            f"SELECT n, {phone}, 'mobile', 'yue', false, {day}",
            f"INSERT INTO service_requests (id, number, caller_id, category_id, description, channel, status, priority, "
            f"created_at, updated_at) SELECT n, 'B4-' || CAST(n AS TEXT), n, 1, '', 'phone', 'completed', 'normal', {day}, {day}",
            f"INSERT INTO request_status_changes (request_id, from_status, to_status, at) "
            f"SELECT n, 'in_service', 'completed', {day}",
            f"INSERT INTO dispatches (request_id, provider_id, status, offered_at) SELECT n, 1, 'accepted', {day}",
        ):
            head, source = series(dialect, requests)
            connection.execute(text(f"{head}{statement} {source}"))
    # As autovacuum would have left tables filled over weeks (not seconds ago): on
    # PostgreSQL a first read of 400,000 fresh rows sets their hint bits and costs ~45 s here.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE" if dialect == "postgresql" else "ANALYZE"))


def measure(engine, requests: int) -> dict:
    from config import load_settings
    from db.session import make_session_factory, transaction
    from ivr.menu import configured_menu
    from surveys.policy import SurveyPolicy, claim, schedule_completed

    sessions = make_session_factory(engine)
    policy = SurveyPolicy.from_settings(load_settings(environ={}), configured_menu(""))
    policy = dataclasses.replace(policy, max_channels=10**9, calls_per_second=10**9, daily_cap=10)
    # Friday 27 November 2026, 06:00 in Heyuan: quiet until 09:00.
    clock = dt.datetime(2026, 11, 27, 6, 0, tzinfo=TZ).astimezone(dt.timezone.utc)
    results: dict = {}
    with transaction(sessions) as session:
        cpu = database_cpu(session.connection())
        cpu_before, started = cpu(), time.perf_counter()
        queued = schedule_completed(session, policy, clock)
    results["enqueue_s"] = time.perf_counter() - started
    results["enqueue_cpu_s"] = cpu_spent(cpu_before, cpu())
    results["queued"] = queued

    claimed = violations = batches = 0
    spent = 0.0
    while claimed < queued and batches < 10_000:
        started = time.perf_counter()
        with transaction(sessions) as session:
            taken = claim(session, policy, "bench", BATCH, clock)
        spent += time.perf_counter() - started
        batches += 1
        local = clock.astimezone(TZ)
        if taken and not (policy.window.open <= local.time() < policy.window.close):
            violations += len(taken)
        claimed += len(taken)
        clock += dt.timedelta(minutes=1)
    results["ours"] = {"claimed": claimed, "seconds": spent, "per_s": claimed / spent, "violations": violations,
                       "batches": batches}

    with engine.begin() as connection:
        connection.execute(text("UPDATE surveys SET status = 'scheduled', claimed_by = NULL, claimed_at = NULL"))
    raw = text("UPDATE surveys SET status = 'dialling', claimed_by = 'raw' WHERE id IN "
               "(SELECT id FROM surveys WHERE status = 'scheduled' ORDER BY due_at, id LIMIT :n) RETURNING id")
    claimed = 0
    started = time.perf_counter()
    while True:
        with engine.begin() as connection:
            got = len(connection.execute(raw, {"n": BATCH}).all())
        if not got:
            break
        claimed += got
    spent = time.perf_counter() - started
    results["raw"] = {"claimed": claimed, "seconds": spent, "per_s": claimed / spent}
    results["bare_enqueue_s"], results["bare_enqueue_cpu_s"] = bare_enqueue(engine, clock)
    return results


def bare_enqueue(engine, now: dt.datetime) -> tuple[float, float | None]:
    """Seconds (and the database's CPU seconds) for the same rows into the same table (its
    indexes and foreign keys) by a bare INSERT … SELECT: no delay, opt-out or duplicate
    check, no provider looked up."""
    dialect = engine.dialect.name
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM survey_attempts"))
        connection.execute(text("DELETE FROM surveys"))
    if dialect == "postgresql":
        # As ours found them: the table fresh, VACUUM FULL rewriting it and its indexes (a
        # plain VACUUM left their 100,000 emptied entries' pages), and the rows its keys
        # refer to vacuumed since ours locked each (the baseline's inserts were slower
        # than ours). Not TRUNCATE … CASCADE: through callback_tasks.survey_id and
        # calls.callback_task_id it emptied service_requests too, and the baseline then
        # inserted nothing.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM FULL surveys, survey_attempts"))
            connection.execute(text("VACUUM ANALYZE surveys, survey_attempts, service_requests, callers, providers"))
    at = now.astimezone(dt.timezone.utc)
    with engine.begin() as connection:
        cpu = database_cpu(connection)
        cpu_before, started = cpu(), time.perf_counter()
        connection.execute(text(
            "INSERT INTO surveys (request_id, caller_id, provider_id, language, due_at, status, attempt_count, "
            "created_at) SELECT id, caller_id, 1, 'yue', :at, 'scheduled', 0, :at FROM service_requests"),
            {"at": at.replace(tzinfo=None) if dialect == "sqlite" else at})
    spent, cpu_after = time.perf_counter() - started, cpu()
    with engine.connect() as connection:
        inserted = connection.execute(text("SELECT count(*) FROM surveys")).scalar_one()
    assert inserted > 0, "the bare enqueue inserted nothing: its baseline would be no baseline"
    return spent, cpu_spent(cpu_before, cpu_after)


def run(requests: int = 100_000) -> dict:
    results = {"requests": requests}
    results.update(on_both_databases(lambda engine: populate(engine, requests),
                                     lambda engine, _folder: measure(engine, requests)))
    return results


def report(results: dict) -> str:
    lines = [f"B4 surveys: {results['requests']:,} completed requests; claims in batches of {BATCH}"]

    def cpu(seconds: float | None) -> str:
        return "" if seconds is None else f" (database CPU {seconds:.2f} s)"

    def line(r: dict) -> str:
        ours, raw = r["ours"], r["raw"]
        return (f"enqueue {r['queued']:,} in {r['enqueue_s']:.2f} s{cpu(r.get('enqueue_cpu_s'))} (target ≤ "
                f"{ENQUEUE_TARGET_S:.0f} s: {'met' if r['enqueue_s'] <= ENQUEUE_TARGET_S else 'NOT met'}), bare INSERT … "
                f"SELECT {r['bare_enqueue_s']:.2f} s{cpu(r.get('bare_enqueue_cpu_s'))}, ours/bare "
                f"{r['enqueue_s'] / r['bare_enqueue_s']:.1f}×; claims {ours['per_s']:,.0f}/s (target ≥ "
                f"{CLAIMS_TARGET:,}: {'met' if ours['per_s'] >= CLAIMS_TARGET else 'NOT met'}), raw loop {raw['per_s']:,.0f}/s, "
                f"ours/raw time {ours['seconds'] / raw['seconds']:.1f}×; quiet-hour violations {ours['violations']} "
                f"over {ours['batches']} batches")
    lines += backend_lines(results, line)
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
