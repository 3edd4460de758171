"""The benchmarks still run (tiny sizes; no timing is asserted: figures live in bench/)."""
from bench import b1_ivr


def test_b1_runs_both_servers_and_reports():
    results = b1_ivr.run(throughput_calls=30, held_calls=20, rounds=1, favour=False, warm_up_calls=0, held_pace=0.1,
                         settle_s=0.1)
    for run in [f"{phase}_{server}" for phase in ("throughput", "held") for server in b1_ivr.SERVERS]:
        assert results[run]["completed"] == results[run]["calls"]
        # Every call walked the same path as the null server replays.
        assert results[run]["commands"] == results[run]["calls"] * results["agi_commands_per_call"]
    report = b1_ivr.report(results)
    assert "CPU per call, ours/null" in report and "1,000 live calls" in report


def test_b1_says_when_a_null_server_used_less_cpu_than_the_clock_shows():
    """The smoke run's 30 calls can cost the null server less than one clock tick: 0 ms a
    call, and ours/null was a division by zero (a fresh-clone run failed on it)."""
    assert b1_ivr._ratio(0.5, 0.0) is None and b1_ivr._ratio(0.6, 0.4) == 1.5
    assert b1_ivr._spread([None, 1.2, 1.4]) == "1.2–1.4×" and b1_ivr._spread([None]) == "not measurable"
    assert b1_ivr._times(None) == "not measurable"


def test_b2_runs_and_writes_every_call():
    from bench import b2_ami

    results = b2_ami.run(calls=200)
    assert results["events"] == 2000
    assert "events/s" in b2_ami.report(results)


def test_b3_fills_and_measures_both_sides():
    from bench import b3_history

    results = b3_history.run(callers=1_000, calls=10_000, requests=1_000, complaints=50, asks=20)
    assert results["sqlite"]["ours"]["p99_ms"] > 0 and results["sqlite"]["hello"]["p99_ms"] > 0
    assert "Flask hello" in b3_history.report(results)


def test_b5_fills_and_measures_both_sides():
    from bench import b5_dispatch

    results = b5_dispatch.run(providers=2_000, requests=500, complaints=100, queries=30)
    assert results["sqlite"]["ours"]["p99_ms"] > 0
    assert "bare select" in b5_dispatch.report(results)


def test_b4_queues_claims_and_counts_violations():
    from bench import b4_surveys

    results = b4_surveys.run(requests=3_000)
    assert results["sqlite"]["queued"] == 3_000
    assert results["sqlite"]["ours"]["claimed"] == 3_000 and results["sqlite"]["raw"]["claimed"] == 3_000
    assert results["sqlite"]["ours"]["violations"] == 0
    assert "quiet-hour violations" in b4_surveys.report(results)


def test_b6_measures_the_pop_and_the_bare_link():
    from bench import b6_pop

    results = b6_pop.run(calls=5)
    assert results["ours"]["p99_ms"] > 0 and results["bare"]["p99_ms"] > 0
    assert "bare AMI link" in b6_pop.report(results)


def test_b7_searches_and_exports_every_call():
    from bench import b7_call_log

    results = b7_call_log.run(calls=4_000, search_samples=5, kpi_asks=3)
    assert results["sqlite"]["search"]["matching"] == 200 and results["sqlite"]["search"]["far_page"] == 4
    assert results["sqlite"]["export"]["rows"] == 4_000 and results["sqlite"]["bare_read"]["rows"] == 4_000
    assert "SELECT count(*)" in b7_call_log.report(results) and "rows/s" in b7_call_log.report(results)
    kpi = results["sqlite"]["kpi"]
    assert kpi["month_calls"] > 0 and kpi["rollup_equals_raw"] and kpi["page"]["p99_ms"] > 0


def test_b9_runs_both_routings_and_routing_by_language_matches_more_callers():
    from bench import b9_language

    results = b9_language.run(rates=(0.4,), seconds=60)
    load = results["loads"][0]
    assert load["by_language"]["answered"] == load["plain"]["answered"] == load["callers"] == 24
    assert load["by_language"]["language_match_rate"] > load["plain"]["language_match_rate"]
    assert "plain (baseline)" in b9_language.report(results)


# --- where a figure was measured ----------------------------------------------------------


def _git(repo, *args):
    import subprocess

    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=repo,
                          capture_output=True, text=True, check=True).stdout.strip()


def test_a_run_names_its_commit_and_whether_the_tree_had_changes(tmp_path):
    from bench.common import provenance

    _git(tmp_path, "init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    _git(tmp_path, "add", "code.py")
    _git(tmp_path, "commit", "-q", "-m", "first")
    clean = provenance(tmp_path)
    assert clean["commit"] == _git(tmp_path, "rev-parse", "HEAD") and clean["dirty"] is False
    assert clean["date"][:4].isdigit() and clean["date"].endswith("+08:00")  # Asia/Shanghai
    (tmp_path / "code.py").write_text("x = 2\n")
    assert provenance(tmp_path)["dirty"] is True
    _git(tmp_path, "commit", "-q", "-am", "second")
    (tmp_path / "new_module.py").write_text("")  # untracked, yet measured
    moved_on = provenance(tmp_path)
    assert moved_on["commit"] != clean["commit"] and moved_on["dirty"] is True


def test_outside_a_git_checkout_the_commit_is_unknown_not_guessed(tmp_path):
    from bench.common import provenance, provenance_line

    measured_at = provenance(tmp_path)
    assert measured_at["commit"] is None and measured_at["dirty"] is None
    assert "unknown commit" in provenance_line(measured_at)


def test_make_bench_writes_each_result_with_the_commit_it_was_measured_at(tmp_path, monkeypatch, capsys):
    import json
    import types

    import bench.__main__ as bench_main
    from bench import b4_surveys
    from bench.common import provenance

    monkeypatch.setattr(bench_main, "RESULTS", tmp_path / "results")
    small_b4 = types.SimpleNamespace(run=lambda: b4_surveys.run(requests=300), report=b4_surveys.report)
    monkeypatch.setitem(bench_main.BENCHMARKS, "b4", small_b4)
    bench_main.main(["b4"])
    written = json.loads((tmp_path / "results" / "b4.json").read_text())
    here = provenance()
    assert written["measured_at"]["commit"] == here["commit"] and written["measured_at"]["dirty"] == here["dirty"]
    assert written["measured_at"]["date"][:10] == here["date"][:10]
    assert written["sqlite"]["ours"]["claimed"] == 300
    assert f"measured at {here['commit'][:10]}" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["b4.json"]  # only what was run


def test_b8_fills_and_measures_the_report_and_the_regrade():
    from bench import b8_report

    results = b8_report.run(providers=40, workers=200, requests=2_000, repeats=1, warm_up=False)
    assert results["sqlite"]["regrade"]["counts"]["graded"] > 0
    assert results["sqlite"]["year_requests"] > 0 and results["sqlite"]["pdf_bytes"] > 0
    assert "annual HTML" in b8_report.report(results)
