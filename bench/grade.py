"""How well and how fast the reply grader works.

    .venv/bin/python bench/grade.py [--show-misses]

Prints accuracy per property and overall for the development part of the corpus and, separately,
for the held-out part (written before the grader, never used to tune it), then replies graded
per second on one core. Aims: every boolean property ≥ 0.95, tone ≥ 0.85, ≥ 1,000 replies/s.
`--show-misses` lists the ids of the dev replies graded wrong (never the held-out ones: looking at
them would make the held-out figure a tuned one).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shopper.grading import BOOLEANS, grade_text  # noqa: E402
from tests.fixtures.grading import PROPERTIES, load_corpus, score_corpus  # noqa: E402

AIMS = {p: 0.95 for p in BOOLEANS} | {"promised": 0.95, "tone": 0.85, "message_type": 0.85}


def report(name: str, result: dict) -> None:
    print(f"\n{name}: {result['n']} replies")
    for p in PROPERTIES:
        acc = result["accuracy"][p]
        flag = "" if acc >= AIMS.get(p, 0) else f"   below aim {AIMS[p]:.2f}"
        print(f"  {p:<18} {acc:6.3f}{flag}")
    print(f"  {'every property':<18} {result['all_properties']:6.3f}")


def throughput(replies: list[dict], seconds: float = 3.0) -> float:
    # Warm up once (compiles the vocabularies), then grade the corpus round and round.
    for r in replies[:5]:
        grade_text(r["text"], kind=r["kind"], reference=r["reference"])
    from shopper.promises import _parse_english_date

    # CPU time of this process: the figure for one core, whatever else the machine is running.
    count, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        _parse_english_date.cache_clear()  # every round reads its English dates afresh, as new mail would
        for r in replies:
            grade_text(r["text"], kind=r["kind"], reference=r["reference"])  # language detected too
        count += len(replies)
    return count / (time.process_time() - start)


def main(argv: list[str]) -> int:
    dev, holdout = load_corpus("dev"), load_corpus("holdout")
    dev_result = score_corpus(dev)
    report("development", dev_result)
    if "--show-misses" in argv:
        for p, ids in dev_result["misses"].items():
            if ids:
                print(f"    {p}: {', '.join(ids)}")
    report("held out", score_corpus(holdout))
    rate = throughput(dev + holdout)
    print(f"\nspeed: {rate:,.0f} replies/s on one core (aim 1,000)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
