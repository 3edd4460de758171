"""`make bench`: run the benchmarks (all, or those named: `python -m bench b4`), print each
report and write its figures, with the commit they were measured at, to bench/results/."""
import argparse
from pathlib import Path

from bench import b1_ivr, b2_ami, b3_history, b4_surveys, b5_dispatch, b6_pop, b7_call_log, b8_report, b9_language
from bench.common import provenance, provenance_line, write_results

BENCHMARKS = {"b1": b1_ivr, "b2": b2_ami, "b3": b3_history, "b4": b4_surveys, "b5": b5_dispatch, "b6": b6_pop,
              "b7": b7_call_log, "b8": b8_report,
              "b9": b9_language}
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", metavar="name",
                        help=f"benchmarks to run, of {', '.join(BENCHMARKS)} (default: all)")
    names = parser.parse_args(argv).names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"no benchmark {', '.join(unknown)}: choose from {', '.join(BENCHMARKS)}")
    # Read before the run: a commit made while it runs is not what was measured.
    measured_at = provenance()
    print(provenance_line(measured_at), end="\n\n")
    for name in names:
        module = BENCHMARKS[name]
        results = module.run()
        print(module.report(results), end="\n\n")
        write_results(RESULTS, name, results, measured_at)


if __name__ == "__main__":
    main()
