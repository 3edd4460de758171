"""`make bench`: run every benchmark and print its report."""
import json
from pathlib import Path

from bench import b1_ivr

results = b1_ivr.run()
print(b1_ivr.report(results))
out = Path("bench/results")
out.mkdir(parents=True, exist_ok=True)
(out / "b1.json").write_text(json.dumps(results, indent=1))
