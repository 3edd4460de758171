"""What the benchmarks share: where a figure was measured, both databases, percentiles, rows
made by the database."""
from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
import zoneinfo
from pathlib import Path
from typing import Callable

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")
# Rows are made by the database itself (a recursive CTE / generate_series): a million
# rows without a million Python round trips.
_SQLITE_SERIES = "WITH RECURSIVE series(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM series WHERE n < {count}) "


def provenance(repo: Path = ROOT) -> dict:
    """The commit a run measures, whether the tree differed from it, and when: a figure
    kept after the code moved on shows its age."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        # Untracked files count too: a new module not yet committed is measured all the same.
        dirty = git("status", "--porcelain") != ""
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None  # not a git checkout: say so rather than guess
    now = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai"))
    return {"commit": commit, "dirty": dirty, "date": now.isoformat(timespec="seconds")}


def write_results(folder: Path, name: str, results: dict, measured_at: dict) -> Path:
    """bench/results/<name>.json: the figures and the commit they were measured at."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"measured_at": measured_at, **results}, indent=1, ensure_ascii=False))
    return path


def provenance_line(measured_at: dict) -> str:
    commit = measured_at["commit"][:10] if measured_at["commit"] else "an unknown commit"
    return f"measured at {commit}{' (with uncommitted changes)' if measured_at['dirty'] else ''}, {measured_at['date']}"


def database_cpu(connection) -> Callable[[], float | None]:
    """A reader of the CPU seconds the database has spent for `connection`: the PostgreSQL
    server process behind it, from /proc when the server runs on this machine (None when
    it does not); SQLite works inside this process, so its CPU time. On a machine shared
    with other work a statement's CPU time moves much less than its wall time."""
    if connection.dialect.name == "sqlite":
        return time.process_time
    pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    proc = Path(f"/proc/{pid}")

    def read() -> float | None:
        try:
            if proc.joinpath("comm").read_text().strip() != "postgres":
                return None  # another machine's server: this pid is some process of ours
            fields = proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return read


def cpu_spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def series(dialect: str, count: int) -> tuple[str, str]:
    """(prefix, FROM clause) giving rows n = 1..count."""
    if dialect == "sqlite":
        return _SQLITE_SERIES.format(count=count), "FROM series"
    return "", f"FROM generate_series(1, {count}) AS series(n)"


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"p50_ms": statistics.median(ordered) * 1000, "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
            "mean_ms": statistics.fmean(ordered) * 1000}


def postgres_engine():
    """(engine on a private schema, drop) or None when the server is unreachable."""
    from sqlalchemy.exc import OperationalError

    from db.session import make_engine

    admin = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    schema = f"hotline_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError:
        admin.dispose()
        return None
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})

    def drop():
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return engine, drop


def on_both_databases(fill: Callable, measure: Callable) -> dict:
    """fill(engine) then measure(engine, folder) on SQLite and, when reachable, PostgreSQL."""
    from db.session import make_engine

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        fill(engine)
        results["sqlite"] = measure(engine, folder)
        engine.dispose()
        postgres = postgres_engine()
        if postgres is not None:
            engine, drop = postgres
            try:
                fill(engine)
                results["postgresql"] = measure(engine, folder)
            finally:
                drop()
    return results


def backend_lines(results: dict, line: Callable[[dict], str]) -> list[str]:
    """One report line per database; a database not measured says so."""
    return [f"  {backend}: {line(results[backend])}" if backend in results
            else f"  {backend}: not measured (server unreachable)" for backend in BACKENDS]


def latency_line(ours: dict, baseline: dict, what: str, baseline_name: str, target_ms: float, short: str) -> str:
    """'<what> p50 …, p99 … (target: met); <baseline> p50 …, p99 …; ours/baseline p99 …×'."""
    met = "met" if ours["p99_ms"] <= target_ms else "NOT met"
    return (f"{what} p50 {ours['p50_ms']:.2f} ms, p99 {ours['p99_ms']:.2f} ms (target ≤ {target_ms:.0f} ms: {met}); "
            f"{baseline_name} p50 {baseline['p50_ms']:.2f} ms, p99 {baseline['p99_ms']:.2f} ms; "
            f"ours/{short} p99 {ours['p99_ms'] / baseline['p99_ms']:.1f}×")
