"""`make bench`: run every benchmark and print its report."""
import json
from pathlib import Path

from bench import b1_ivr, b2_ami, b3_history, b4_surveys, b5_dispatch, b6_pop

out = Path("bench/results")
out.mkdir(parents=True, exist_ok=True)
for name, module in (("b1", b1_ivr), ("b2", b2_ami), ("b3", b3_history), ("b4", b4_surveys), ("b5", b5_dispatch), ("b6", b6_pop)):
    results = module.run()
    print(module.report(results), end="\n\n")
    (out / f"{name}.json").write_text(json.dumps(results, indent=1))
