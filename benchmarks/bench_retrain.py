"""Drift and retraining, day by day: a retraining policy against never retraining and against
retraining every day.

A synthetic mission (``astraguard_train.data.synthetic.mission``) shifts its normal behaviour:
a level change in half the channels, a new operating mode, slow sensor ageing, with anomalies
injected before and after. Every strategy trains the same detector (``mission_config``: the
temperature measured against the same point of the orbit before, so the sensors' slow ageing
does not make it stale; ``--raw-temperature`` for the raw one). Each day, the day's telemetry
is scored by the detector in service (its alarms are what operators would see); then

- **never** keeps the first detector;
- **daily** retrains on the last ``--window-days`` days and puts the result in service;
- **policy** writes the last ``--window-days`` days to a gzip CSV, as a ground station would,
  and runs ``retrain`` on it with the settings an operator checking once a day would choose:
  triggers judged on the newest day (``recent_days = 1``): drift on at least 2 features (one
  alone is the sensors' slow ageing), the champion's alarm rate above 3x or below 1/3 of its
  rate on its own test rows (a flood, or a detector gone quiet), or its data a week old
  (``max_data_age_days = 7``); no new challenger within ``--cooldown-days`` of the last; the
  window the same ``--policy-window-days`` days, cut at the last change
  (``since_change``) and at least ``--min-days`` of rows long (else it waits); the latest
  ``--holdout`` share of it held out for the A/B (point F1, ``--key-metric``), promotion only
  when the rule says so; a challenger the rule kept stays in shadow (``reevaluate``) and is
  compared again, on the rows since its training, while the cooldown holds.

Printed per strategy: event F1 and flagged share over the days after the shift, and how many
times it trained; then its event F1 over each period after the shift (the level change's
days, the quieter mode's), which says where it gains or loses. Then every promotion the
policy made, checked against the rows the rule saw (a wrong promotion is one whose challenger
was worse there) and against the next day's rows.

    python benchmarks/bench_retrain.py                 # 3 seeds, 30 days of 4 channels
    python benchmarks/bench_retrain.py --msl ../shared/data/msl.csv.gz

Targets: after the shift, policy F1 at least 0.15 above never and within 0.03 of daily while
training at least 5x less often; 0 wrong promotions.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import attrs
import numpy as np
import tomli_w

from astraguard_train import Frame, Pipeline, PipelineConfig, load_bundle
from astraguard_train.data.synthetic import mission, mission_orbit_rows
from astraguard_train.plugins import build_registry
from astraguard_train.retraining.comparison import compare
from astraguard_train.retraining.policy import RetrainPolicy
from astraguard_train.retraining.retrain import retrain
from astraguard_train.timeseries.events import event_score

CONFIG = {
    "loader": {"name": "csv", "timestamp_column": "time", "timestamp_unit": "ms",
               "channel_column": "channel", "label_column": "label"},
    "split": {"strategy": "time", "test_size": 0.2},
    "train": {"group_by": "channel", "exclude_labelled_anomalies": True},
    "scaler": {"name": "zscore"},
    "model": {"name": "iforest", "n_estimators": 100, "random_state": 0},
    "threshold": {"name": "contamination", "contamination": 0.03},
    "postprocess": {"merge_gap": 5, "min_event_length": 2},
}
STRATEGIES = ("never", "daily", "policy")


def mission_config(rows_per_day: int, raw_temperature: bool = False) -> dict:
    """The detector every strategy trains: ``CONFIG`` with the temperature measured against
    the same point of the previous orbit (``diff`` by one orbit's rows). The sensors' ageing
    is a slow creep of the temperature; against the orbit before, it is gone, while the
    orbit's own swing, the anomalies and the quieter mode's smaller swing stay."""
    if raw_temperature:
        return CONFIG
    orbit = {"name": "diff", "periods": mission_orbit_rows(rows_per_day),
             "columns": ["temperature"], "keep": False}
    return {**CONFIG, "transforms": [orbit]}


def write_mission_csv(frame: Frame, path: Path) -> None:
    """Write ``frame`` as users' files are: epoch milliseconds, full-precision floats, gzip."""
    ms = frame.timestamps.astype("datetime64[ms]").astype(np.int64)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        fh.write(",".join(["time", "channel", *frame.columns, "label"]) + "\n")
        for i in range(frame.n_rows):
            values = ",".join(repr(float(v)) for v in frame.X[i])
            fh.write(f"{ms[i]},{frame.channels[i]},{values},{int(frame.labels[i])}\n")


def write_msl_csv(frame: Frame, path: Path) -> None:
    """MSL's long format: channel, split, timestamp (sample index), f0..f54, label."""
    seconds = frame.timestamps.astype("datetime64[s]").astype(np.int64)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        fh.write(",".join(["channel", "split", "timestamp", *frame.columns, "label"]) + "\n")
        for i in range(frame.n_rows):
            values = ",".join(repr(float(v)) for v in frame.X[i])
            fh.write(f"{frame.channels[i]},test,{seconds[i]},{values},{int(frame.labels[i])}\n")


def _train(config: PipelineConfig, frame: Frame, output: Path) -> Path:
    persist = attrs.evolve(config.persist, output=str(output), bundle_name="detector")
    result = Pipeline(config.evolve(persist=persist)).run(frame, output=str(output))
    return Path(result.artifact)


def _flags(bundle: Path, frame: Frame, context: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Flags of ``rows``, scored with the rows of ``context`` before them as history."""
    part = frame.take(context)
    scored = load_bundle(bundle, trusted=True).score(part)
    got = np.zeros(context.size, dtype=bool)
    got[np.searchsorted(part.index, scored.frame.index)] = scored.flags
    return got[np.isin(context, rows)]


def policy_loop(frame: Frame, part: np.ndarray, window: int, work: Path, first: Path,
                config_path: Path, write, triggers: dict, seed: int = 0,
                key_metric: str | None = None, verbose: bool = False,
                policy_window: dict | None = None, holdout: float = 0.4) -> dict:
    """Each part in turn: score it with each strategy's detector in service (the part
    before it as history), then retrain on the last ``window`` parts as each strategy does."""
    config = PipelineConfig.from_toml(config_path)
    in_service = {s: first for s in STRATEGIES}
    trainings = {s: 1 for s in STRATEGIES}
    flags = {s: np.zeros(frame.n_rows, dtype=bool) for s in STRATEGIES}
    data = work / "recent.csv.gz"
    policy = RetrainPolicy.from_dict({
        "champion": {"store": str(first.parent)},
        "data": {"path": str(data)},
        "triggers": triggers,
        "window": {"holdout": holdout, **(policy_window or {})},
        "retrain": {"config": str(config_path)},
        "decision": {"seed": seed, "key_metric": key_metric, "reevaluate": True},
    })
    promotions = []
    challengers: set[int] = set()
    for k in range(int(part.max()) + 1):
        rows = np.flatnonzero(part == k)
        context = np.flatnonzero((part == k - 1) | (part == k))
        for s in STRATEGIES:
            flags[s][rows] = _flags(in_service[s], frame, context, rows)
        recent = frame.take(np.flatnonzero((part > k - window) & (part <= k)))
        in_service["daily"] = _train(config, recent, work / "daily")
        trainings["daily"] += 1
        write(recent, data)
        outcome = retrain(policy, trusted=True)
        # a challenger compared again in shadow was trained once, on its first day
        if outcome.challenger is not None and outcome.challenger not in challengers:
            challengers.add(outcome.challenger)
            trainings["policy"] += 1
        if verbose:
            print(f"  part {k}: {outcome.action}: {'; '.join(outcome.reasons)}")
        if outcome.promoted:
            before, in_service["policy"] = in_service["policy"], first.parent / str(
                outcome.challenger)
            promotions.append((k, before, in_service["policy"], outcome.comparison))
    checked = []
    for k, before, after, seen in promotions:
        nxt = np.flatnonzero(part == k + 1)
        future = None
        if nxt.size:
            a = load_bundle(before, trusted=True).score(frame.take(nxt))
            b = load_bundle(after, trusted=True).score(frame.take(nxt))
            future = compare(a, b, n_boot=0).difference
        checked.append((k, seen["difference"], seen["interval"], future))
    return {"flags": flags, "trainings": trainings, "promotions": checked}


def _row(name: str, labels: np.ndarray, flags: np.ndarray, segment: np.ndarray,
         trainings: float) -> float:
    f1 = event_score(labels, flags, segment=segment).f1 or 0.0
    print(f"{name:<8} {f1:>21.3f} {flags.mean():>14.4f} {trainings:>10.1f}")
    return f1


def _period_f1(results: list[dict], strategy: str, lo: int, hi: int) -> float:
    """Event F1 of ``strategy`` over the days ``lo`` to ``hi - 1`` of every seed."""
    keep = [(r["day"] >= lo) & (r["day"] < hi) for r in results]
    labels = np.concatenate([r["frame"].labels[k] for r, k in zip(results, keep, strict=True)])
    flags = np.concatenate([r["flags"][strategy][k]
                            for r, k in zip(results, keep, strict=True)])
    segment = np.concatenate([np.char.add(f"{i}:", r["frame"].channels[k])
                              for i, (r, k) in enumerate(zip(results, keep, strict=True))])
    return event_score(labels, flags, segment=segment).f1 or 0.0


def _mission_triggers(args: argparse.Namespace) -> dict:
    triggers = {"drifted_features": 2, "cooldown_days": args.cooldown_days}
    if args.recent_days is not None:
        triggers["recent_days"] = args.recent_days
    if args.alarm_rate_ratio is not None:
        triggers["alarm_rate_ratio"] = args.alarm_rate_ratio
    if args.max_data_age_days is not None:
        triggers["max_data_age_days"] = args.max_data_age_days
    return triggers


def run_mission(args: argparse.Namespace) -> None:
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()
    results = []
    for seed in seeds:
        frame = mission(days=args.days, rows_per_day=args.rows_per_day,
                        n_channels=args.channels, shift_day=args.shift_day,
                        mode_day=args.mode_day, shift_size=args.shift_size, seed=seed)
        day = ((frame.timestamps - frame.timestamps.min())
               // np.timedelta64(int(86400e9), "ns")).astype(np.int64)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            config_path = work / "mission.toml"
            config_path.write_bytes(tomli_w.dumps(
                mission_config(args.rows_per_day, args.raw_temperature)).encode())
            config = PipelineConfig.from_toml(config_path)
            first = _train(config, frame.take(day < args.window_days), work / "models")
            later = np.flatnonzero(day >= args.window_days)
            served = frame.take(later)
            served = Frame(X=served.X, columns=served.columns, timestamps=served.timestamps,
                           labels=served.labels, channels=served.channels)
            if args.verbose:
                print(f"seed {seed}:")
            out = policy_loop(served, day[later] - args.window_days, args.window_days, work,
                              first, config_path, write_mission_csv,
                              _mission_triggers(args), seed, args.key_metric, args.verbose,
                              {"last_days": args.policy_window_days,
                               "since_change": args.recent_days is not None,
                               "min_rows": int(args.min_days * args.rows_per_day) or None},
                              args.holdout)
        out["after"] = day[later] >= args.shift_day
        out["day"] = day[later]
        out["frame"] = served
        results.append(out)
    print(f"mission: {args.days} days x {args.rows_per_day} rows x {args.channels} channels, "
          f"shift on day {args.shift_day}, new mode on day {args.mode_day}, window "
          f"{args.window_days} days, seeds {seeds} ({time.perf_counter() - start:.0f} s)")
    print("detector: temperature " + ("raw" if args.raw_temperature else
                                       f"against the orbit before (diff by "
                                       f"{mission_orbit_rows(args.rows_per_day)} rows)"))
    print(f"policy: triggers {_mission_triggers(args)}, window last_days "
          f"{args.policy_window_days:g}, since_change {args.recent_days is not None}, min_rows "
          f"{int(args.min_days * args.rows_per_day)}, holdout {args.holdout:g}, reevaluate")
    print(f"{'strategy':<8} {'event F1 after shift':>21} {'flagged share':>14} {'trainings':>10}")
    mean = {}
    for s in STRATEGIES:
        labels = np.concatenate([r["frame"].labels[r["after"]] for r in results])
        flags = np.concatenate([r["flags"][s][r["after"]] for r in results])
        # seeds apart: each seed's channels are their own segments
        segment = np.concatenate([np.char.add(f"{i}:", r["frame"].channels[r["after"]])
                                  for i, r in enumerate(results)])
        n = float(np.mean([r["trainings"][s] for r in results]))
        mean[s] = (_row(s, labels, flags, segment, n), n)
    # where each strategy wins or loses: the level change's days, then the quieter mode's
    periods = [(args.shift_day, args.mode_day), (args.mode_day, args.days)]
    print("event F1 by period: " + ", ".join(f"days {lo}-{hi - 1}" for lo, hi in periods
                                              if hi > lo))
    for s in STRATEGIES:
        figures = [_period_f1(results, s, lo, hi) for lo, hi in periods if hi > lo]
        print(f"  {s:<8} " + "  ".join(f"{f:.3f}" for f in figures))
    wrong = 0
    print("promotions (seed, day, difference on the A/B rows [95% interval], on the next day):")
    for seed, r in zip(seeds, results, strict=True):
        for k, diff, ci, future in r["promotions"]:
            wrong += diff is None or diff < 0
            shown = "-" if future is None else f"{future:+.3f}"
            print(f"  seed {seed} day {k + args.window_days}: {diff:+.3f} "
                  f"[{ci['low']:+.3f}, {ci['high']:+.3f}], next day {shown}")
    print(f"policy - never:  {mean['policy'][0] - mean['never'][0]:+.3f} (target >= +0.15)")
    print(f"policy - daily:  {mean['policy'][0] - mean['daily'][0]:+.3f} (target >= -0.03)")
    ratio = mean["daily"][1] / max(mean["policy"][1], 1.0)
    print(f"daily trains {ratio:.1f}x as often as the policy (target >= 5x)")
    print(f"wrong promotions: {wrong} (target 0)")


def run_msl(args: argparse.Namespace) -> None:
    """Each MSL channel's test stream in order, cut into ``--msl-parts`` consecutive parts."""
    root = Path(__file__).resolve().parent.parent
    table = tomllib.loads((root / "examples" / "msl.toml").read_text())
    table["loader"]["path"] = str(Path(args.msl).resolve())
    config = PipelineConfig.from_dict(table)
    registry = build_registry()
    frame = registry.create("loader", config.loader.name, config.loader.params).load()
    test = frame.take(np.flatnonzero(frame.extras["split"] == "test"))
    test = Frame(X=test.X, columns=test.columns, timestamps=test.timestamps,
                 labels=test.labels, channels=test.channels)
    order, bounds = test.channel_segments()
    part = np.empty(test.n_rows, dtype=np.int64)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        part[order[lo:hi]] = (np.arange(hi - lo) * args.msl_parts) // (hi - lo)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        first = Path(Pipeline(config).run(output=str(work / "models")).artifact)
        # challengers train on recent test rows: a time split, labelled anomalies left out,
        # and a fallback model for a channel whose recent rows are all anomalous
        table["split"] = {"strategy": "time", "test_size": 0.2}
        table["train"]["exclude_labelled_anomalies"] = True
        table["train"]["fallback"] = True
        config_path = work / "retrain-msl.toml"
        config_path.write_bytes(tomli_w.dumps(table).encode())
        out = policy_loop(test, part, args.msl_window, work, first, config_path,
                          write_msl_csv, {"drifted_features": 1}, key_metric=args.key_metric,
                          verbose=args.verbose)
    later = part >= 1
    print(f"MSL: each channel's test stream in {args.msl_parts} parts, window "
          f"{args.msl_window} parts ({time.perf_counter() - start:.0f} s)")
    print(f"{'strategy':<8} {'event F1 (parts 2..)':>21} {'flagged share':>14} {'trainings':>10}")
    for s in STRATEGIES:
        _row(s, test.labels[later], out["flags"][s][later], test.channels[later],
             out["trainings"][s])
    print(f"policy promotions: {len(out['promotions'])}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--rows-per-day", type=int, default=480)
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--shift-day", type=int, default=10)
    ap.add_argument("--mode-day", type=int, default=18)
    ap.add_argument("--shift-size", type=float, default=4.0,
                    help="the level change, in the channels' standard deviations")
    ap.add_argument("--key-metric", choices=["event_f1", "f1"], default="f1",
                    help="what the A/B decides on (event F1 does not see an alarm flood: "
                    "one long alarm over an event counts as a true alarm)")
    ap.add_argument("--window-days", type=int, default=5)
    ap.add_argument("--policy-window-days", type=float, default=5.0,
                    help="the policy's window.last_days (of the --window-days file)")
    ap.add_argument("--cooldown-days", type=float, default=2.0,
                    help="the policy's triggers.cooldown_days")
    ap.add_argument("--recent-days", type=float, default=1.0,
                    help="the policy's triggers.recent_days, and the period window.since_change "
                    "compares (0: judge the whole file, the window not cut at a change)")
    ap.add_argument("--alarm-rate-ratio", type=float, default=3.0,
                    help="the policy's triggers.alarm_rate_ratio (0: not set)")
    ap.add_argument("--max-data-age-days", type=float, default=7.0,
                    help="the policy's triggers.max_data_age_days (0: not set)")
    ap.add_argument("--min-days", type=float, default=2.0,
                    help="the policy's window.min_rows, in days of rows (0: not set)")
    ap.add_argument("--holdout", type=float, default=0.3,
                    help="the policy's window.holdout: the latest share of the window the A/B "
                    "compares on (a challenger kept on a short one is compared again in shadow)")
    ap.add_argument("--raw-temperature", action="store_true",
                    help="train every strategy on the raw temperature, not against the orbit "
                    "before (the sensors' ageing then makes a detector stale in days)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--verbose", action="store_true", help="print each day's decision")
    ap.add_argument("--msl", default=None, help="also run the loop on this MSL file")
    ap.add_argument("--msl-parts", type=int, default=6,
                    help="parts each MSL channel's test stream is cut into, in time order")
    ap.add_argument("--msl-window", type=int, default=2, help="parts a challenger trains on")
    ap.add_argument("--skip-mission", action="store_true", help="run only the MSL loop")
    args = ap.parse_args(argv)
    args.recent_days = args.recent_days or None
    args.alarm_rate_ratio = args.alarm_rate_ratio or None
    args.max_data_age_days = args.max_data_age_days or None
    if not args.skip_mission:
        run_mission(args)
    if args.msl:
        run_msl(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
