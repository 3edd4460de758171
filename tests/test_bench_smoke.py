"""The benchmarks still run (tiny sizes; no timing is asserted: figures live in bench/)."""
from bench import b1_ivr


def test_b1_runs_both_servers_and_reports():
    results = b1_ivr.run(throughput_calls=30, held_calls=20, rounds=1, favour=False)
    for run in [f"{phase}_{server}" for phase in ("throughput", "held") for server in b1_ivr.SERVERS]:
        assert results[run]["completed"] == results[run]["calls"]
        # Every call walked the same path as the null server replays.
        assert results[run]["commands"] == results[run]["calls"] * results["agi_commands_per_call"]
    report = b1_ivr.report(results)
    assert "CPU per call, ours/null" in report and "1,000 live calls" in report


def test_b2_runs_and_writes_every_call():
    from bench import b2_ami

    results = b2_ami.run(calls=200)
    assert results["events"] == 2000
    assert "events/s" in b2_ami.report(results)


def test_b3_fills_and_measures_both_sides():
    from bench import b3_history

    results = b3_history.run(callers=2_000, calls=20_000, requests=2_000, complaints=100)
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
