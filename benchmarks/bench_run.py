"""The whole ``astraguard-train run`` against a hand-written pandas + scikit-learn script.

Both sides do the same work on the same CSV file (``--rows`` rows x 7 sensors, ISO timestamps,
floats at full precision as pandas writes them, 0/1 labels): read, sort by time, time split
(the last 30% of rows test), z-score on the training rows, Isolation Forest (100 trees,
``random_state=42``), scores of the training rows for the contamination threshold (5%),
scores of the test rows, the same metrics (confusion, precision/recall/F1, ROC-AUC, PR-AUC,
event-wise figures) and ``joblib.dump`` of the fitted objects; our run also does what a run
does by default beyond that (quality checks, alarm explanations, the bundle's drift profile,
fingerprint and ``evaluation.npz``), into a fresh output directory each time, so that no
repeat skips writing its bundle as a duplicate of the one before. Each side runs as a whole
process (interpreter start and imports included), ``--repeat`` times, interleaved, so machine
load hits both alike; the median of the per-pair ratios is the figure. The stage times of our
run (its ``run --json`` stages) are printed beside the script's phases, so the gap is visible.
Both sides import compiled bytecode: the script's libraries have the bytecode their install
wrote, and ours is written first (:func:`compile_sources`; ``--no-compile`` skips it, and
from an editable checkout with ``PYTHONDONTWRITEBYTECODE`` set each start of ours then
compiles our modules anew).

    python benchmarks/bench_run.py [--rows 1000000] [--repeat 5] [--no-compile]

The script's side is this file run with ``--by-hand CSV OUT``; it imports nothing of ours.
Target: our run at most 1.05x the script.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.05
CONTAMINATION = 0.05
TEST_SIZE = 0.3
SEED = 42

CONFIG = """\
[loader]
name = "csv"
path = "{csv}"
timestamp_column = "timestamp"
label_column = "label"

[split]
strategy = "time"
test_size = {test_size}

[scaler]
name = "zscore"

[model]
name = "iforest"
n_estimators = 100
random_state = {seed}

[threshold]
name = "contamination"
contamination = {contamination}
"""


def make_csv(path: Path, rows: int) -> None:
    """Write the project's synthetic telemetry (6 sensors + labels) and a 7th sensor."""
    import numpy as np
    import pandas as pd

    from astraguard_train.data.synthetic import generate

    frame = generate(n_samples=rows, n_channels=1, seed=7)
    df = pd.DataFrame(frame.X, columns=list(frame.columns))
    df["pressure"] = 101.3 + np.random.default_rng(7).normal(0, 0.4, rows)
    df.insert(0, "timestamp", np.datetime_as_string(frame.timestamps, unit="s"))
    df["label"] = frame.labels
    df.to_csv(path, index=False)


# -- the hand-written side ----------------------------------------------------------------------


def by_hand(csv: str, out: str) -> dict[str, float]:
    """The same run written directly with pandas and scikit-learn; returns phase seconds."""
    clock = time.perf_counter
    phases: dict[str, float] = {}
    t = clock()
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.preprocessing import StandardScaler

    phases["import"] = clock() - t

    t = clock()
    df = pd.read_csv(csv, parse_dates=["timestamp"])
    phases["read"] = clock() - t

    t = clock()
    df = df.sort_values("timestamp", kind="stable", ignore_index=True)
    features = [c for c in df.columns if c not in ("timestamp", "label")]
    X = df[features].to_numpy(dtype=np.float64)
    y = df["label"].to_numpy()
    b = len(df) - int(round(len(df) * TEST_SIZE))
    if y[b] == 1 and y[b - 1] == 1:  # keep an anomaly event whole: move to its start
        b = int(np.flatnonzero(y[:b] != 1)[-1]) + 1
    X_train, X_test, y_test = X[:b], X[b:], y[b:]
    phases["sort+split"] = clock() - t

    t = clock()
    scaler = StandardScaler().fit(X_train)
    Z_train, Z_test = scaler.transform(X_train), scaler.transform(X_test)
    phases["scale"] = clock() - t

    t = clock()
    forest = IsolationForest(n_estimators=100, random_state=SEED).fit(Z_train)
    phases["fit"] = clock() - t

    t = clock()
    threshold = float(np.quantile(-forest.score_samples(Z_train), 1.0 - CONTAMINATION))
    phases["threshold"] = clock() - t

    t = clock()
    scores = -forest.score_samples(Z_test)
    flags = scores > threshold
    phases["score test"] = clock() - t

    t = clock()
    truth = y_test == 1
    tp, fp = int((truth & flags).sum()), int((~truth & flags).sum())
    fn = int((truth & ~flags).sum())
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)

    def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
        return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)

    starts, ends = runs(truth)
    seen = np.concatenate(([0], np.cumsum(flags)))
    hit = seen[ends] - seen[starts] > 0
    f_starts, f_ends = runs(flags)
    inside = np.concatenate(([0], np.cumsum(truth)))
    metrics = {
        "f1": 2 * precision * recall / max(precision + recall, 1e-300),
        "roc_auc": float(roc_auc_score(y_test, scores)),
        "pr_auc": float(average_precision_score(y_test, scores)),
        "event_recall": float(hit.mean()),
        "event_precision": float((inside[f_ends] - inside[f_starts] > 0).mean()),
    }
    phases["metrics"] = clock() - t

    t = clock()
    Path(out).mkdir(parents=True, exist_ok=True)
    joblib.dump(
        {"features": features, "scaler": scaler, "model": forest, "threshold": threshold,
         "metrics": metrics},
        Path(out) / "detector.joblib",
    )
    phases["dump"] = clock() - t
    phases["metrics_f1"] = metrics["f1"]  # not a time: checked against our run's F1
    return phases


# -- the comparison -----------------------------------------------------------------------------


def compile_sources() -> int:
    """Write the bytecode of our package and of the plugins it registers, as installing them
    does; return how many modules were found.

    The script's libraries are read from the bytecode their install wrote, and so should
    ours be: from an editable checkout with ``PYTHONDONTWRITEBYTECODE`` set, every start
    would compile over a hundred of our modules anew, a cost no installed copy has.
    """
    import compileall
    import importlib.util
    from importlib.metadata import entry_points

    names = {"astraguard_train"}
    names |= {ep.module.split(".")[0] for ep in entry_points(group="astraguard_train")}
    found = 0
    for name in sorted(names):
        spec = importlib.util.find_spec(name)
        for where in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(where, quiet=2)
            found += sum(1 for _ in Path(where).rglob("*.py"))
    return found



def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system, all threads) and stdout of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--no-compile", action="store_true",
        help="do not write our modules' bytecode first (each start of ours then compiles "
        "them when PYTHONDONTWRITEBYTECODE is set, as in an editable checkout)",
    )
    parser.add_argument("--by-hand", nargs=2, metavar=("CSV", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.by_hand:
        print(json.dumps(by_hand(*args.by_hand)))
        return 0
    if not args.no_compile:
        print(f"bytecode written for {compile_sources()} modules of ours and our plugins "
              "(as an install writes it)")

    with tempfile.TemporaryDirectory(prefix="bench_run_") as tmp:
        csv = Path(tmp) / "telemetry.csv"
        make_csv(csv, args.rows)
        config = Path(tmp) / "run.toml"
        config.write_text(
            CONFIG.format(csv=csv, test_size=TEST_SIZE, seed=SEED, contamination=CONTAMINATION),
            encoding="utf-8",
        )
        print(
            f"data: {args.rows:,} rows x 7 sensors, {csv.stat().st_size / 2**20:.0f} MiB CSV; "
            f"{args.repeat} interleaved repeats of each whole process"
        )
        hand_cmd = [sys.executable, __file__, "--by-hand", str(csv), str(Path(tmp) / "hand")]
        ours_s, hand_s, ours_cpu, hand_cpu = [], [], [], []
        stages, phases = [], []
        for i in range(args.repeat):
            # a fresh output directory each time: in the same one, a repeat finds the same
            # config and data already saved and writes no bundle (persist's duplicate check)
            ours_cmd = [sys.executable, "-m", "astraguard_train", "run", str(config), "--json",
                        "--output", str(Path(tmp) / f"models{i}")]
            seconds, cpu, out = timed(ours_cmd)
            ours_s.append(seconds)
            ours_cpu.append(cpu)
            result = json.loads(out)
            stages.append({s["name"]: s["seconds"] for s in result["stages"]})
            stages[-1]["start+imports"] = seconds - sum(stages[-1].values())
            seconds, cpu, out = timed(hand_cmd)
            hand_s.append(seconds)
            hand_cpu.append(cpu)
            phases.append(json.loads(out))
            f1 = phases[-1].pop("metrics_f1")
            phases[-1]["start"] = seconds - sum(phases[-1].values())

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    print("\nmedian seconds per part (our stages | the script's phases):")
    ours_parts = [("start+imports", med(stages, "start+imports"))]
    ours_parts += [(k, med(stages, k)) for k in stages[0] if k != "start+imports"]
    hand_parts = [("start", med(phases, "start"))]
    hand_parts += [(k, med(phases, k)) for k in phases[0] if k != "start"]
    for i in range(max(len(ours_parts), len(hand_parts))):
        left = f"{ours_parts[i][0]:<14}{ours_parts[i][1]:7.2f}" if i < len(ours_parts) else ""
        right = f"{hand_parts[i][0]:<12}{hand_parts[i][1]:7.2f}" if i < len(hand_parts) else ""
        print(f"  {left:<21} | {right}")
    ours_total, hand_total = statistics.median(ours_s), statistics.median(hand_s)
    print(f"  {'whole process':<14}{ours_total:7.2f} | {'whole':<12}{hand_total:7.2f}")
    # where the gap lies: reading the file, or everything after it
    after_ours = statistics.median(
        sum(v for k, v in r.items() if k not in ("start+imports", "load")) for r in stages
    )
    after_hand = statistics.median(
        sum(v for k, v in r.items() if k not in ("start", "import", "read")) for r in phases
    )
    print(f"  {'after load':<14}{after_ours:7.2f} | {'after read':<12}{after_hand:7.2f}")
    print(f"  {'CPU seconds':<14}{statistics.median(ours_cpu):7.2f} | {'CPU seconds':<12}"
          f"{statistics.median(hand_cpu):7.2f}  (user + system, all threads)")
    ratios = [o / h for o, h in zip(ours_s, hand_s, strict=True)]
    ratio = statistics.median(ratios)
    cpu_ratio = statistics.median(o / h for o, h in zip(ours_cpu, hand_cpu, strict=True))
    print(f"\nF1 on the test rows: ours {result['metrics']['f1']:.4f}, script {f1:.4f}")
    print(
        f"whole run / script: {ratio:.3f}x median of {len(ratios)} pairs "
        f"(pairs: {', '.join(f'{r:.2f}' for r in ratios)}); "
        f"target <= {TARGET}x: {'ok' if ratio <= TARGET else 'MISSED'}"
    )
    print(f"CPU seconds, ours / script: {cpu_ratio:.3f}x median of pairs (our reader parses on "
          "every core, so this ratio counts its threads' time too)")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
