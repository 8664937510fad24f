"""``make bench``: run every ``bench/bench_*.py`` module, print one table and write
``bench/results.json``.

Each module exposes ``run(runs=5) -> list[dict]`` (see :mod:`common`). A module that
fails is reported with its error and the others still run; expected modules that do
not exist yet are listed as missing. The whole run is meant to stay under 10 minutes.

    python bench/run.py [--runs N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
import traceback
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

#: Benchmarks the project expects (issue 7); others found on disk run as well.
EXPECTED = ("bench_http", "bench_draw", "bench_reset", "bench_seed")
RESULTS = BENCH_DIR / "results.json"
BUDGET_S = 600
#: The keys every results.json row carries (HTTP rows add rps, p99_ms, baseline_rps and
#: their p99; the storm row players_per_s and baseline_players_per_s).
ROW_KEYS = ("name", "median_s", "runs", "baseline", "baseline_median_s", "ratio")


def discover() -> list[str]:
    return sorted(path.stem for path in BENCH_DIR.glob("bench_*.py"))


def _fmt_seconds(value: Any) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return "-"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def _cell(row: dict[str, Any], key: str) -> str:
    if key == "median":
        if "players_per_s" in row:
            return f"{row['players_per_s']:.0f} players/s, p99 {row['p99_ms']:.1f} ms"
        if "rps" in row:
            return f"{row['rps']:.0f} req/s, p99 {row['p99_ms']:.1f} ms"
        return _fmt_seconds(row.get("median_s"))
    if key == "baseline median":
        if "baseline_players_per_s" in row:
            return (
                f"{row['baseline_players_per_s']:.0f} players/s, "
                f"p99 {row['baseline_p99_ms']:.1f} ms"
            )
        if "baseline_rps" in row:
            return f"{row['baseline_rps']:.0f} req/s, p99 {row['baseline_p99_ms']:.1f} ms"
        return _fmt_seconds(row.get("baseline_median_s"))
    if key == "ratio":
        ratio = row.get("ratio")
        return "-" if ratio is None else f"{ratio:.3g}"
    if key == "met?":
        met = row.get("met")
        return {True: "yes", False: "NO", None: "-"}[met]
    value = row.get(key)
    return "-" if value is None else str(value)


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = ["name", "median", "runs", "baseline", "baseline median", "ratio", "goal", "met?"]
    cells = [[_cell(row, column) for column in columns] for row in rows]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))


def _merged(rows: list[dict[str, Any]], selected: list[str]) -> list[dict[str, Any]]:
    """This run's rows plus, from the previous results.json, the rows of modules that
    did not run (``--only`` must not wipe the other benchmarks' results)."""
    try:
        previous = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        previous = []
    kept = [row for row in previous if row.get("module") not in selected]
    return kept + rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=None, help="module names, e.g. bench_http")
    args = parser.parse_args(argv)
    found = discover()
    missing = [name for name in EXPECTED if name not in found]
    selected = [n for n in found if not args.only or n in args.only or n[6:] in args.only]
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    started = time.monotonic()
    for name in selected:
        print(f"== {name} ...", flush=True)
        t0 = time.monotonic()
        try:
            module = importlib.import_module(name)
            produced = module.run(runs=args.runs)
        except Exception as exc:  # a broken benchmark must not hide the others
            traceback.print_exc()
            failures.append(
                f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            )
            continue
        for row in produced:
            absent = [key for key in ROW_KEYS if key not in row]
            if absent:
                failures.append(f"{name}: row {row.get('name')!r} lacks {', '.join(absent)}")
            row.setdefault("module", name)
            rows.append(row)
        print(f"   {name} took {time.monotonic() - t0:.0f} s", flush=True)
    elapsed = time.monotonic() - started
    RESULTS.write_text(json.dumps(_merged(rows, selected), indent=2, ensure_ascii=False) + "\n")
    print()
    print_table(rows)
    print()
    print(f"{len(rows)} result(s) from {len(selected)} module(s) in {elapsed:.0f} s; "
          f"written to {RESULTS.relative_to(BENCH_DIR.parent)}")  # fmt: skip
    if missing:
        print(f"missing benchmark modules (not written yet): {', '.join(missing)}")
    if elapsed > BUDGET_S:
        print(f"WARNING: make bench took {elapsed:.0f} s, over its {BUDGET_S} s budget")
    for failure in failures:
        print(f"FAILED {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
