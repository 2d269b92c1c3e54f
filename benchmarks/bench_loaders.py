"""CSV and JSON lines load stage against pandas, pyarrow and polars, on files as users have them.

Each shape is a file of ``--rows`` rows: a timestamp, 7 float features at full precision and,
for some, a channel column, written the way users' tools write them:

- floats as ``pandas.DataFrame.to_csv`` writes them (shortest round-trip, ~17 digits), as
  ``numpy.savetxt`` with ``%.18e``, and as pyarrow's CSV writer;
- ISO 8601 times, epoch seconds and epoch milliseconds;
- a text channel column of ``--channels`` channels (rows cycle through them);
- gzip.

Every reader turns the file into the same thing: the float64 feature matrix, the times as
``datetime64[ns]`` and the channel of each row (ours: ``loader.load()`` into a Frame; pandas:
``read_csv`` + ``to_numpy``; pyarrow: ``pyarrow.csv.read_csv`` + the columns stacked; polars:
``read_csv`` + ``to_numpy``). Each measurement runs in a fresh process that has imported all
four libraries and loads the file ``--repeat`` times; the best time is kept (the machine is
shared, so noise only adds). The readers of a shape take turns, one load each, so that a burst
of other work on the machine falls on all of them alike instead of on whichever was being
measured at the time. The target: our load stage at most 1.2x the fastest of the three
on every shape. The CPU seconds' ratio is printed as a second opinion when other work shares
the machine.

Also measured, with their own targets: a JSON array (at most 1.5x the fastest JSON lines
reader on the same rows) and a list of dicts in memory (at least 1,000,000 records/s).

    python benchmarks/bench_loaders.py                 # 1M rows, a few minutes
    python benchmarks/bench_loaders.py --rows 10000000 # the 10M figures (files of ~1.5 GB)
    python benchmarks/bench_loaders.py --shape "JSON lines, ISO, channel"  # one shape
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs

FEATURES = [f"x{i}" for i in range(7)]
TARGET = 1.2
ARRAY_TARGET = 1.5
RECORDS_TARGET = 1_000_000
EPOCH_NS = {"s": 1_000_000_000, "ms": 1_000_000}


@attrs.frozen
class Shape:
    """One realistic file: who wrote it, how times are written, a channel column, gzip."""

    file: str
    writer: str  # pandas, numpy, pyarrow (CSV); polars (JSON lines)
    time: str  # iso, s or ms
    channels: bool = False
    gz: bool = False

    @property
    def unit(self) -> str | None:
        return None if self.time == "iso" else self.time


SHAPES = {
    "pandas floats, ISO times": Shape("pandas_iso.csv", "pandas", "iso"),
    "numpy %.18e, epoch s": Shape("numpy_s.csv", "numpy", "s"),
    "pyarrow floats, epoch ms": Shape("pyarrow_ms.csv", "pyarrow", "ms"),
    "pandas floats, ISO, channel": Shape("pandas_iso_ch.csv", "pandas", "iso", channels=True),
    "pyarrow floats, epoch ms, channel": Shape(
        "pyarrow_ms_ch.csv", "pyarrow", "ms", channels=True
    ),
    "pandas floats, ISO, channel, gzip": Shape(
        "pandas_iso_ch.csv.gz", "pandas", "iso", channels=True, gz=True
    ),
    "pyarrow floats, epoch ms, gzip": Shape("pyarrow_ms.csv.gz", "pyarrow", "ms", gz=True),
    "JSON lines, ISO, channel": Shape("data.jsonl", "polars", "iso", channels=True),
}
JSONL = "JSON lines, ISO, channel"
BASELINES = ("pandas", "pyarrow", "polars")
READERS = ("ours", *BASELINES)


# -- the files --------------------------------------------------------------------------------


def write_files(
    directory: Path, rows: int, n_channels: int, shapes: list[str], array: bool, seed: int = 0
) -> None:
    """Write the files of ``shapes`` (each writer once per content; gzip copies of the plain),
    and with ``array`` the JSON array (made from the JSON lines file)."""
    import numpy as np
    import pandas as pd
    import polars as pl
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, len(FEATURES)))
    seconds = np.int64(1_767_225_600) + np.arange(rows, dtype=np.int64)  # from 2026-01-01
    iso = seconds.astype("datetime64[s]").astype("datetime64[ms]")
    names = np.array([f"ch{i:03d}" for i in range(n_channels)])
    channel = names[np.arange(rows) % n_channels]

    def columns(shape: Shape) -> dict[str, object]:
        stamp = {"iso": iso, "s": seconds, "ms": seconds * 1000}[shape.time]
        out: dict[str, object] = {"timestamp": stamp}
        if shape.channels:
            out["channel"] = channel
        return {**out, **{c: values[:, j] for j, c in enumerate(FEATURES)}}

    wanted = [*shapes, *([JSONL] if array and JSONL not in shapes else [])]
    for shape in (SHAPES[name] for name in wanted):
        path = directory / shape.file
        if path.exists():
            continue
        plain = directory / shape.file.removesuffix(".gz")
        if not plain.exists():
            if shape.writer == "pandas":
                pd.DataFrame(columns(shape)).to_csv(plain, index=False)
            elif shape.writer == "numpy":
                np.savetxt(
                    plain, np.column_stack([seconds, values]), delimiter=",", comments="",
                    fmt=["%d", *["%.18e"] * len(FEATURES)], header=",".join(["timestamp",
                                                                             *FEATURES]),
                )
            elif shape.writer == "pyarrow":
                pacsv.write_csv(pa.table(columns(shape)), plain)
            else:
                frame = pl.DataFrame(columns(shape))
                frame.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S")) \
                    .write_ndjson(plain)
        if shape.gz:
            with open(plain, "rb") as src, gzip.open(path, "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst, 1 << 22)
    if not array or (directory / "data.json").exists():
        return
    # The JSON array: the JSON lines file's objects between brackets.
    with open(directory / "data.jsonl") as lines, open(directory / "data.json", "w") as arr:
        arr.write("[")
        for i, line in enumerate(lines):
            arr.write(("," if i else "") + line)
        arr.write("]\n")


# -- one measurement ---------------------------------------------------------------------------


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


def _epoch(values, unit: str):  # type: ignore[no-untyped-def]
    import numpy as np

    return (np.asarray(values, dtype=np.int64) * EPOCH_NS[unit]).view("datetime64[ns]")


def load(reader: str, shape: Shape, path: str):  # type: ignore[no-untyped-def]
    """(feature matrix, datetime64[ns] times, channels or None) as ``reader`` gives them."""
    import numpy as np

    channel = "channel" if shape.channels else None
    if reader == "ours":
        from astraguard_train.data import loaders

        kind = loaders.JsonlLoader if path.endswith(".jsonl") else loaders.CsvLoader
        frame = kind(path=path, timestamp_column="timestamp", timestamp_unit=shape.unit,
                     channel_column=channel).load()
        return frame.X, frame.timestamps, frame.channels
    if reader == "pandas":
        import pandas as pd

        if path.endswith(".jsonl"):
            df = pd.read_json(path, lines=True, convert_dates=False)
        else:
            df = pd.read_csv(path)
        stamps = pd.to_datetime(df["timestamp"], unit=shape.unit)
        return (df[FEATURES].to_numpy(np.float64), stamps.to_numpy("datetime64[ns]"),
                df[channel].to_numpy() if channel else None)
    if reader == "pyarrow":
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv
        import pyarrow.json as pajson

        table = pajson.read_json(path) if path.endswith(".jsonl") else pacsv.read_csv(path)
        X = np.column_stack([table[c].to_numpy() for c in FEATURES])
        if shape.unit:
            stamps = _epoch(table["timestamp"].to_numpy(), shape.unit)
        else:
            stamps = pc.cast(table["timestamp"], "timestamp[ns]").to_numpy()
        channels = table[channel].to_numpy() if channel else None
        return X, stamps, channels
    import polars as pl

    df = pl.read_ndjson(path) if path.endswith(".jsonl") else pl.read_csv(path)
    if shape.unit:
        stamps = _epoch(df["timestamp"].to_numpy(), shape.unit)
    else:
        stamps = df["timestamp"].str.to_datetime(time_unit="ns").to_numpy()
    return df.select(FEATURES).to_numpy(), stamps, df[channel].to_numpy() if channel else None


def child(what: str, directory: str, repeat: int) -> None:
    """Run one measurement up to ``repeat`` times, each when a line arrives on stdin, and print
    each as a line of JSON (in its own process; see :class:`Child`).

    Every child imports the same modules first (the package, pandas, pyarrow's readers,
    polars), so the peak RSS figures differ only by what the measured reader itself uses.
    """
    import gc

    import pandas  # noqa: F401
    import polars  # noqa: F401
    import pyarrow as pa
    import pyarrow.csv  # noqa: F401
    import pyarrow.json as pajson

    from astraguard_train.data import loaders

    records = None
    if what == "records":
        records = pajson.read_json(os.path.join(directory, "data.jsonl")).to_pylist()
    before = _status_mb("VmRSS")
    for _ in range(repeat):
        if not sys.stdin.readline():
            return
        cpu = os.times()
        start = time.perf_counter()
        if what == "records":
            n = loaders.RecordsLoader(timestamp_column="timestamp", channel_column="channel") \
                .load(records).n_rows
        elif what == "json":
            path = os.path.join(directory, "data.json")
            n = loaders.JsonLoader(path=path, timestamp_column="timestamp",
                                   channel_column="channel").load().n_rows
        else:
            name, reader = what.split("|")
            shape = SHAPES[name]
            X, stamps, _channels = load(reader, shape, os.path.join(directory, shape.file))
            n = len(X)
            assert len(stamps) == n and X.shape == (n, len(FEATURES)), (X.shape, len(stamps))
            del X, stamps, _channels
        seconds = time.perf_counter() - start
        used = os.times()
        cpu_seconds = (used.user - cpu.user) + (used.system - cpu.system)
        print(json.dumps({"rows": n, "seconds": seconds, "cpu_seconds": cpu_seconds,
                          "peak_rss_mb": _status_mb("VmHWM"), "import_rss_mb": before}),
              flush=True)
        # Untimed: hand freed memory back, so the readers waiting for their turn beside this
        # one hold no more than their imports.
        gc.collect()
        pa.default_memory_pool().release_unused()


class Child:
    """One measurement's process, which loads once each time :meth:`round` is called."""

    def __init__(self, what: str, directory: Path, repeat: int) -> None:
        self.what = what
        self.errors = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--child", what, str(directory), str(repeat)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors, text=True,
        )

    def round(self) -> dict[str, float]:
        """Load once; the figures of that load."""
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        for line in self.process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        self.close()
        raise SystemExit(f"measurement {self.what} failed:\n{self._stderr()}")

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        if self.process.wait():
            raise SystemExit(f"measurement {self.what} failed:\n{self._stderr()}")

    def _stderr(self) -> str:
        self.errors.seek(0)
        return self.errors.read()


def measure_all(
    directory: Path, repeat: int, shapes: list[str], extras: bool = True
) -> dict[str, list[dict[str, float]]]:
    """Every round's figures of every measurement.

    The readers of a shape take turns, one load each per round (the first reader of a round
    rotates), each in its own process that stays up between its turns: the machine is shared,
    and measured one after the other, whichever reader ran during a burst of other work would
    lose to the rest by that burst alone.
    """
    runs: dict[str, list[dict[str, float]]] = {}
    # The JSON array takes turns with the JSON lines readers it is compared with.
    groups = [[f"{name}|{reader}" for reader in READERS]
              + (["json"] if extras and name == JSONL else []) for name in shapes]
    if extras:  # every shape, so the JSON lines readers are among them
        groups.append(["records"])
    for whats in groups:
        children = [Child(what, directory, repeat) for what in whats]
        for i in range(repeat):
            for child in children[i % len(children):] + children[: i % len(children)]:
                runs.setdefault(child.what, []).append(child.round())
        for child in children:
            child.close()
    return runs


def _best(rs: list[dict[str, float]], key: str) -> float:
    return min(r[key] for r in rs)


def report(
    runs: dict[str, list[dict[str, float]]], directory: Path, shapes: list[str], extras: bool
) -> bool:
    """Print every figure and ratio; True when every target is met."""
    ok = True
    print(f"{'shape':<36}{'reader':<9}{'MB':>7}{'seconds':>9}{'cpu s':>7}{'peak MB':>9}"
          f"{'/fastest':>10}{'cpu/least':>11}")
    for name in shapes:
        shape = SHAPES[name]
        mb = (directory / shape.file).stat().st_size / 1e6
        rs = {reader: runs[f"{name}|{reader}"] for reader in READERS}
        fastest = min(BASELINES, key=lambda r: _best(rs[r], "seconds"))
        least_cpu = min(_best(rs[r], "cpu_seconds") for r in BASELINES)
        for reader in READERS:
            ratio = _best(rs[reader], "seconds") / _best(rs[fastest], "seconds")
            # os.times counts in clock ticks: a tiny file can take none
            cpu_ratio = _best(rs[reader], "cpu_seconds") / least_cpu if least_cpu else math.nan
            print(f"{name if reader == 'ours' else '':<36}{reader:<9}{mb:>7.0f}"
                  f"{_best(rs[reader], 'seconds'):>9.3f}{_best(rs[reader], 'cpu_seconds'):>7.2f}"
                  f"{_best(rs[reader], 'peak_rss_mb'):>9.0f}{ratio:>9.2f}x{cpu_ratio:>10.2f}x")
        ratio = _best(rs["ours"], "seconds") / _best(rs[fastest], "seconds")
        met = ratio <= TARGET
        ok &= met
        print(f"{'':<36}-> ours / {fastest} {ratio:.2f}x, target <= {TARGET}x: "
              f"{'met' if met else 'MISSED'}")
    if not extras:
        return ok
    jsonl = min(_best(runs[f"{JSONL}|{r}"], "seconds") for r in BASELINES)
    ratio = _best(runs["json"], "seconds") / jsonl
    met = ratio <= ARRAY_TARGET
    ok &= met
    print(f"JSON array loader / fastest JSON lines reader: {ratio:.2f}x, target <= "
          f"{ARRAY_TARGET}x: {'met' if met else 'MISSED'}")
    rec = runs["records"]
    rate = rec[0]["rows"] / _best(rec, "seconds")
    met = rate >= RECORDS_TARGET
    ok &= met
    print(f"records loader: {rate:,.0f} records/s, target >= {RECORDS_TARGET:,}: "
          f"{'met' if met else 'MISSED'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=50, help="distinct channels")
    parser.add_argument("--repeat", type=int, default=3, help="loads per measurement (best kept)")
    parser.add_argument("--dir", type=Path, help="keep the files here (reused when present)")
    parser.add_argument("--shape", action="append", choices=list(SHAPES), metavar="SHAPE",
                        help="measure only this shape (repeatable; skips the JSON array and "
                        "records figures); default: every shape")
    parser.add_argument("--child", nargs=3, metavar=("WHAT", "DIR", "REPEAT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_loaders_") as tmp:
        directory = args.dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        shapes = args.shape or list(SHAPES)
        extras = not args.shape
        write_files(directory, args.rows, args.channels, shapes, extras)
        print(f"{args.rows:,} rows x (timestamp + {len(FEATURES)} floats), {args.channels} "
              f"channels; files ready in {time.perf_counter() - start:.0f}s; cores: "
              f"{os.cpu_count()}")
        runs = measure_all(directory, args.repeat, shapes, extras)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"best of {args.repeat} loads, a process per reader, readers taking turns; load "
              f"average now {load:.1f}")
        ok = report(runs, directory, shapes, extras)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
