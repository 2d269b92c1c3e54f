"""Loader throughput and peak memory against pandas / pyarrow baselines, measured in one run.

Writes ``--rows`` rows (an ISO 8601 timestamp + 7 float columns) as CSV, JSON lines, a JSON
array and Parquet into a temporary directory, then loads each into a Frame. Every measurement
runs in a fresh child process, so its peak RSS is its own; each is repeated ``--repeat`` times
and the best time and lowest peak are kept (the machine is shared, so noise only adds).

Prints rows/s, MB/s, peak RSS, and the ratios the targets are stated in:

- csv: time and peak RSS / ``pandas.read_csv`` on the same file (targets <= 1.0);
- jsonl: time / ``pyarrow.json.read_json`` on the same file (target <= 1.1);
- json array: time / ``pyarrow.json.read_json`` of the JSON lines file (target <= 1.5);
- records: records/s from a list of dicts (target >= 1,000,000).

Each time ratio (best against best) is followed by the CPU time ratio and the median of the
ratios within a round, second opinions when other work on the machine makes the best times
of a loader and its baseline come from different moments.

    python benchmarks/bench_loaders.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FEATURES = [f"x{i}" for i in range(7)]

# kind -> (file it reads, what it is)
MEASUREMENTS = {
    "pandas_csv": ("data.csv", "pandas.read_csv (baseline)"),
    "csv": ("data.csv", "csv loader"),
    "pyarrow_jsonl": ("data.jsonl", "pyarrow.json.read_json (baseline)"),
    "jsonl": ("data.jsonl", "jsonl loader"),
    "json": ("data.json", "json loader (array)"),
    "parquet": ("data.parquet", "parquet loader"),
    "records": ("data.parquet", "records loader (list of dicts)"),
}


def write_files(directory: Path, rows: int, seed: int = 0) -> None:
    """Write the same data as CSV, JSON lines, a JSON array and Parquet."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-01-01T00:00:00", "s")
    stamps = (start + np.arange(rows).astype("timedelta64[s]")).astype(str)
    values = rng.normal(size=(rows, len(FEATURES))).round(6)
    table = pa.table({"timestamp": stamps, **{c: values[:, i] for i, c in enumerate(FEATURES)}})
    pacsv.write_csv(table, directory / "data.csv")
    pq.write_table(table, directory / "data.parquet")
    # JSON written in slices so the writer's memory stays small.
    with open(directory / "data.jsonl", "w") as lines, open(directory / "data.json", "w") as arr:
        arr.write("[")
        step = 100_000
        for lo in range(0, rows, step):
            chunk = [
                json.dumps({"timestamp": s, **dict(zip(FEATURES, v, strict=True))})
                for s, v in zip(stamps[lo : lo + step].tolist(), values[lo : lo + step].tolist(),
                                strict=True)
            ]
            lines.write("\n".join(chunk) + "\n")
            arr.write(("," if lo else "") + ",\n".join(chunk))
        arr.write("]\n")


def _status_mb(key: str) -> float:
    """A memory figure of this process from /proc (VmHWM, the peak, is reset by exec, unlike
    getrusage's ru_maxrss, which a child inherits from the process that started it)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_rss_mb() -> float:
    return _status_mb("VmHWM")


def child(kind: str, path: str) -> None:
    """Run one measurement and print it as JSON (runs in its own process).

    Every child imports the same modules first (the package, pandas, pyarrow's readers), so
    the peak RSS figures differ only by what the measured reader itself uses.
    """
    import pandas as pd
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    from astraguard_train.data import loaders

    records = pq.read_table(path).to_pylist() if kind == "records" else None
    before = _status_mb("VmRSS")
    cpu = os.times()
    start = time.perf_counter()
    if kind == "pandas_csv":
        n = len(pd.read_csv(path))
    elif kind == "pyarrow_jsonl":
        n = pajson.read_json(path).num_rows
    elif kind == "records":
        n = loaders.RecordsLoader(timestamp_column="timestamp").load(records).n_rows
    else:
        factory = {"csv": loaders.CsvLoader, "jsonl": loaders.JsonlLoader,
                   "json": loaders.JsonLoader, "parquet": loaders.ParquetLoader}[kind]
        n = factory(path=path, timestamp_column="timestamp").load().n_rows
    seconds = time.perf_counter() - start
    used = os.times()
    cpu_seconds = (used.user - cpu.user) + (used.system - cpu.system)
    print(json.dumps({"rows": n, "seconds": seconds, "cpu_seconds": cpu_seconds,
                      "peak_rss_mb": _peak_rss_mb(), "import_rss_mb": before}))


def run_child(kind: str, directory: Path) -> dict[str, float]:
    """One measurement in a fresh process."""
    path = directory / MEASUREMENTS[kind][0]
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(f"measurement {kind} failed:\n{out.stderr}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "mb": path.stat().st_size / 1e6}


def measure_all(
    directory: Path, repeat: int
) -> tuple[dict[str, dict[str, float]], dict[str, list[dict[str, float]]]]:
    """Best time, CPU time and lowest peak RSS of each measurement over ``repeat`` rounds,
    and every round's figures.

    Each round runs every measurement once, so a change in the machine's load during the
    run touches the baselines and the loaders alike.
    """
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in MEASUREMENTS}
    for _ in range(repeat):
        for kind in MEASUREMENTS:
            runs[kind].append(run_child(kind, directory))
    out = {}
    for kind, rs in runs.items():
        out[kind] = {
            "rows": rs[0]["rows"],
            "mb": rs[0]["mb"],
            "seconds": min(r["seconds"] for r in rs),
            "cpu_seconds": min(r["cpu_seconds"] for r in rs),
            "peak_rss_mb": min(r["peak_rss_mb"] for r in rs),
            "import_rss_mb": min(r["import_rss_mb"] for r in rs),
            "added_rss_mb": min(r["peak_rss_mb"] - r["import_rss_mb"] for r in rs),
        }
    return out, runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_loaders_") as tmp:
        directory = Path(tmp)
        start = time.perf_counter()
        write_files(directory, args.rows)
        print(f"wrote {args.rows:,} rows x (timestamp + {len(FEATURES)} floats) in "
              f"{time.perf_counter() - start:.1f}s; cores: {os.cpu_count()}")
        results, runs = measure_all(directory, args.repeat)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"best of {args.repeat} fresh processes each; load average now {load:.1f}")
    print(f"{'measurement':<36}{'rows/s':>12}{'MB/s':>9}{'seconds':>9}{'cpu s':>7}"
          f"{'peak RSS MB':>13}{'before read':>13}{'added':>9}")
    for kind, (_file, label) in MEASUREMENTS.items():
        r = results[kind]
        rate, speed = r["rows"] / r["seconds"], r["mb"] / r["seconds"]
        print(f"{label:<36}{rate:>12,.0f}{speed:>9.1f}{r['seconds']:>9.3f}"
              f"{r['cpu_seconds']:>7.2f}{r['peak_rss_mb']:>13.1f}{r['import_rss_mb']:>13.1f}"
              f"{r['added_rss_mb']:>9.1f}")
    print()
    ok = True
    # (what, measured, baseline, figure, target ratio)
    checks = [
        ("csv time / pandas.read_csv", "csv", "pandas_csv", "seconds", 1.0),
        ("csv peak RSS / pandas.read_csv", "csv", "pandas_csv", "peak_rss_mb", 1.0),
        ("jsonl time / pyarrow.json.read_json", "jsonl", "pyarrow_jsonl", "seconds", 1.1),
        ("json array time / pyarrow.json.read_json", "json", "pyarrow_jsonl", "seconds", 1.5),
    ]
    for label, kind, base, figure, target in checks:
        ratio = results[kind][figure] / results[base][figure]
        met = ratio <= target
        ok &= met
        cpu = ""
        if figure == "seconds":  # second opinions when the machine is busy
            cpu_ratio = results[kind]["cpu_seconds"] / results[base]["cpu_seconds"]
            rounds = statistics.median(
                a["seconds"] / b["seconds"] for a, b in zip(runs[kind], runs[base], strict=True)
            )
            cpu = f"  (CPU time ratio {cpu_ratio:.2f}; median of the rounds' ratios {rounds:.2f})"
        print(f"ratio {label:<42} {ratio:6.2f}  target <= {target}  "
              f"{'met' if met else 'MISSED'}{cpu}")
    records = results["records"]
    rate = records["rows"] / records["seconds"]
    met = rate >= 1_000_000
    ok &= met
    cpu_rate = records["rows"] / max(records["cpu_seconds"], 1e-9)
    print(f"records/s {rate:>46,.0f}  target >= 1,000,000  {'met' if met else 'MISSED'}"
          f"  (per CPU second {cpu_rate:,.0f})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
