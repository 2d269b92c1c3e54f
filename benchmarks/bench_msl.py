"""NASA MSL channel telemetry through the framework, beside telemanom's published figures.

Protocol (telemanom, Hundman et al. KDD 2018; the data's own split): for each of the 27 MSL
channels in ``../shared/data/msl.csv.gz``, fit on that channel's ``train`` rows only (which
hold no labelled anomalies) and score its ``test`` rows. No labels are used for fitting or
for thresholds. Evaluation is event-wise, by the framework's ``events`` metric: an event is a
run of labelled rows in one channel; it is found when at least one row inside it is flagged;
a flagged run is a true alarm when it overlaps an event. telemanom's README reports, for MSL,
precision 92.6% and recall 69.4% (F1 about 0.79) on the same definition.

The configuration is ``examples/msl.toml`` (forecast-residual detector + dynamic threshold);
``--config`` runs another. As a baseline in the same run, the same split and grouping with
the default detector (Isolation Forest on the raw features, contamination threshold) is timed
and scored too, so the time is also given as a ratio.

Targets (issue 7): event F1 >= 0.80 with at most 5% of test rows flagged; all 27 channels
trained and scored in under 60 s on 2 cores.

``--model lstm_forecast`` (the plugin astraguard-train-torch) runs telemanom's LSTM in place
of the ridge forecaster, with the same threshold and post-processing, and the ridge run of
the configuration as the baseline in the same run. On a GPU (``--device cuda``, or ``auto``
finding one) it runs telemanom's full setting; on a CPU a reduced one (:data:`REDUCED`) that
finishes in minutes; ``--setting`` picks either explicitly. It prints the setting, the seed,
each channel's training time, epochs and device, the machine's load, and throughput.

    python benchmarks/bench_msl.py
    python benchmarks/bench_msl.py --config my.toml --set model.window=50 --no-baseline
    python benchmarks/bench_msl.py --model lstm_forecast              # CPU: reduced setting
    python benchmarks/bench_msl.py --model lstm_forecast --device cuda  # full setting
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "msl.csv.gz"
CONFIG = ROOT / "examples" / "msl.toml"

#: telemanom's published MSL event figures (README of khundman/telemanom)
TELEMANOM = {"event_precision": 0.926, "event_recall": 0.694}


#: telemanom's LSTM (its config.yaml): the command flags f1..f54 feed the windows with f0.
FULL: dict[str, Any] = {
    "window": 250, "n_predictions": 10, "units": [80, 80], "dropout": 0.3, "epochs": 35,
    "batch_size": 64, "validation_split": 0.2, "patience": 10, "min_delta": 0.0003,
    "exogenous": ["f*"],
}
#: What 2 shared CPU cores finish in minutes: shorter windows, narrower layers, few epochs,
#: larger batches.
REDUCED: dict[str, Any] = {
    **FULL, "window": 50, "units": [32, 32], "epochs": 3, "batch_size": 256, "patience": 2,
}


def f_beta(precision: float | None, recall: float | None, beta: float) -> float | None:
    """F-beta from precision and recall; None when either is undefined."""
    if precision is None or recall is None:
        return None
    b2 = beta * beta
    denom = b2 * precision + recall
    return (1 + b2) * precision * recall / denom if denom else 0.0


def run(config: Any, data_path: Path) -> tuple[Any, float]:
    """Run ``config`` on ``data_path`` (load excluded from the time); return (result, seconds)."""
    from astraguard_train.training.pipeline import Pipeline

    pipeline = Pipeline(config.with_overrides([f"loader.path={data_path}"]))
    start = time.perf_counter()
    result = pipeline.run(persist=False)
    load = next(s.seconds for s in result.stages if s.name == "load")
    return result, time.perf_counter() - start - load


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:5.3f}"


def table(rows: list[tuple[str, dict[str, Any], float | None]]) -> None:
    """Print each run's event figures, flagged share and time, one line each."""
    header = f"{'detector':<42} {'P':>5} {'R':>5} {'F1':>5} {'F0.5':>5} {'flagged':>8} {'time':>8}"
    print(header)
    print("-" * len(header))
    for name, m, secs in rows:
        p, r = m.get("event_precision"), m.get("event_recall")
        flagged = m.get("flagged_share")
        shown_flagged = f"{flagged:8.2%}" if flagged is not None else "     n/a"
        shown_time = f"{secs:7.1f}s" if secs is not None else "     n/a"
        print(
            f"{name:<42} {_fmt(p)} {_fmt(r)} {_fmt(f_beta(p, r, 1.0))} "
            f"{_fmt(f_beta(p, r, 0.5))} {shown_flagged} {shown_time}"
        )


def compare_model(config: Any, args: argparse.Namespace) -> int:
    """Run ``args.model`` on the MSL protocol beside the config's own run (the baseline),
    with per-channel training times, device, load and throughput."""
    from astraguard_train.training.pipeline import Pipeline

    setting: dict[str, Any] = {}
    if args.model == "lstm_forecast":
        from astraguard_train_torch.devices import resolve_device

        device = resolve_device(args.device)
        which = args.setting or ("full" if device.type == "cuda" else "reduced")
        setting = {**(FULL if which == "full" else REDUCED), "device": args.device,
                   "smoothing": config.model.params.get("smoothing", 30),
                   "random_state": args.seed}
        print(f"{args.model}: {which} setting on {device}; seed {args.seed}")
    ours = config.with_values({"model.name": args.model, "train.n_jobs": 1,
                               **{f"model.{k}": v for k, v in setting.items()}})
    print(f"model parameters: {dict(ours.model.params)}")
    try:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        threads = f"torch threads {torch.get_num_threads()}"
    except ImportError:
        threads = "no torch"
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / "
          f"{load[2]:.1f} (1/5/15 min) at the start; {threads}")
    pipeline = Pipeline(ours.with_overrides([f"loader.path={args.data}"]))
    start = time.perf_counter()
    result = pipeline.run(persist=False)
    stage = {s.name: s.seconds for s in result.stages}
    seconds = time.perf_counter() - start - stage["load"]
    rows = [(f"{args.model} + {ours.threshold.name}", result.metrics, seconds)]
    if not args.no_baseline:
        base, base_seconds = run(config, args.data)
        rows.append((f"baseline ({config.model.name} + {config.threshold.name}, same run)",
                     base.metrics, base_seconds))
    rows.append(("telemanom (published, LSTM + dynamic)", dict(TELEMANOM), None))
    print()
    table(rows)
    chains = pipeline.context.detector.chains
    logs = {k: getattr(c.model, "training_", None) for k, c in chains.items()}
    print("\nper channel: training seconds, epochs run (best), device")
    for key, log in logs.items():
        if log is not None:
            print(f"  {key!s:<6} {log.seconds:7.1f}s  {log.epochs:3d} ({log.best_epoch})  "
                  f"{getattr(chains[key].model, 'device_', '?')}")
    fitted = [log for log in logs.values() if log is not None]
    if fitted:
        total = sum(log.seconds for log in fitted)
        windows = sum(log.samples * log.epochs for log in fitted)
        print(f"training: {total:.1f}s over {len(fitted)} channels, "
              f"{total / len(fitted):.1f}s per channel on average; {windows:,} windows "
              f"trained on = {windows / max(total, 1e-9):,.0f} windows/s")
    tested = pipeline.context.split.test.n_rows
    print(f"throughput: training stage {stage['features'] + stage['train']:.1f}s; evaluate "
          f"stage {stage['evaluate']:.1f}s for {tested} test rows = "
          f"{tested / max(stage['evaluate'], 1e-9):,.0f} rows/s scored")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    if not args.no_baseline:
        print(f"time ratio {args.model} / baseline (same run): {seconds / base_seconds:.1f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="MSL long-format csv(.gz)")
    parser.add_argument("--config", type=Path, default=CONFIG, help="pipeline TOML")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline")
    parser.add_argument("--model", help="run this detector in place of the config's "
                        "(lstm_forecast: telemanom's LSTM; the config's own run is the baseline)")
    parser.add_argument("--device", default="auto", help="lstm_forecast: auto, cpu or cuda")
    parser.add_argument("--setting", choices=("full", "reduced"),
                        help="lstm_forecast: telemanom's full setting or the reduced CPU one "
                        "(default: full on a GPU, reduced on a CPU)")
    parser.add_argument("--seed", type=int, default=0, help="lstm_forecast: random_state")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, one per "
                        "core; on a loaded shared machine 1 is much faster)")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"bench_msl: data not found: {args.data}", file=sys.stderr)
        return 2

    from astraguard_train.config import PipelineConfig

    config = PipelineConfig.from_toml(args.config).with_overrides(args.overrides)
    if args.model:
        return compare_model(config, args)
    rows: list[tuple[str, dict[str, Any], float | None]] = []
    result, seconds = run(config, args.data)
    rows.append((f"ours ({config.model.name} + {config.threshold.name})", result.metrics, seconds))
    if not args.no_baseline:
        baseline = config.with_overrides(
            ["model.name=iforest", "model.random_state=0", "scaler.name=zscore",
             "threshold.name=contamination", "threshold.contamination=0.05",
             "postprocess.merge_gap=0", "postprocess.min_event_length=1"]
        )
        base_result, base_seconds = run(baseline, args.data)
        rows.append(("baseline (iforest + contamination 5%)", base_result.metrics, base_seconds))
    rows.append(("telemanom (published, LSTM + dynamic)", dict(TELEMANOM), None))

    print(f"MSL: {args.data}  config: {args.config}  {' '.join(args.overrides)}")
    train = next(s.summary for s in result.stages if s.name == "train")
    print(f"channels trained and scored: {train.get('groups')}; time excludes reading the file")
    table(rows)
    m = result.metrics
    print(
        f"\nevents found {m.get('n_events_detected')}/{m.get('n_events')}, "
        f"flagged runs {m.get('n_flagged_runs')}, mean detection delay "
        f"{m.get('detection_delay_mean') or 0:.1f} rows; counts: {result.counts}"
    )
    if not args.no_baseline:
        print(f"time ratio ours / baseline (same run): {seconds / base_seconds:.2f}")
    f1 = f_beta(m.get("event_precision"), m.get("event_recall"), 1.0) or 0.0
    share = m.get("flagged_share", 1.0)
    print(
        f"targets: event F1 >= 0.80 [{'met' if f1 >= 0.80 else 'NOT met'}: {f1:.3f}], "
        f"flagged <= 5% [{'met' if share <= 0.05 else 'NOT met'}: {share:.2%}], "
        f"time < 60 s [{'met' if seconds < 60 else 'NOT met'}: {seconds:.1f}s]"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
