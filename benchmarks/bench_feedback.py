"""Operators in the loop: feedback experiments, each against its no-feedback baseline.

``--experiment msl`` (NASA MSL, ``../shared/data/msl.csv.gz``, ``examples/msl.toml``): each
channel is trained on its ``train`` rows; its ``test`` stream is cut in two halves in time.
The parent's alarms on the first half get verdicts from the true labels (an alarm run
overlapping a labelled event is ``true_alarm``, else ``false_alarm``): an operator reviewing
every alarm, and one reviewing at most 5 per channel (the 5 with the highest peak score). The
parent is then updated with the first half (``update``; rows under true alarms not learned)
and every detector scores the whole test stream; event F1 and the flagged share are taken on
the second halves only. Baselines in the same run: the parent as is, and an update with the
first half and no feedback. Target: F1 at least 0.05 above no feedback, flagged share not
higher.

``--experiment update``: ``update`` against a full retrain. Synthetic telemetry
(``--channels`` x ``--rows`` rows, 6 full-precision float columns, ISO timestamps, a channel
column, gzip CSV) through the flagship channel pipeline (``forecast`` with ridge +
``dynamic`` + post-processing, one chain per channel). The parent is trained on the first
90%; then (a) ``update`` with the last 10% (a file of its own), (b) a full retrain on all
rows. Both times are end to end (reading the CSV, fitting, writing the bundle). Agreement:
both new bundles score a held-out file; the largest score and threshold differences and the
share of rows whose flags differ. Targets: update at least 10x faster; scores equal to 1e-9.

    python benchmarks/bench_feedback.py --experiment msl
    python benchmarks/bench_feedback.py --experiment update --rows 100000 --channels 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MSL_DATA = ROOT.parent / "shared" / "data" / "msl.csv.gz"
MSL_CONFIG = ROOT / "examples" / "msl.toml"

#: the flagship channel pipeline on the synthetic telemetry's columns
CHANNEL_PIPELINE: dict[str, Any] = {
    "split": {"strategy": "column", "column": "split"},
    "train": {"group_by": "channel", "n_jobs": 1},
    "scaler": {"name": "none"},
    "model": {"name": "forecast", "target": "voltage", "exogenous": ["current"],
              "window": 30, "regressor": "ridge", "smoothing": 60},
    "threshold": {"name": "dynamic", "window": 2100, "step": 70,
                  "min_percent_decrease": 0.05, "min_threshold": 0.05},
    "postprocess": {"merge_gap": 100, "min_event_length": 10},
}


# -- shared -------------------------------------------------------------------------------------


def _fit_detector(config: Any, train: Any) -> Any:
    """A TrainedDetector fitted on ``train`` (no validation or test part)."""
    from astraguard_train.data.splits import Split
    from astraguard_train.plugins import build_registry
    from astraguard_train.training.fit import fit_detector, plan_training

    registry = build_registry()
    empty = train.take(np.zeros(train.n_rows, dtype=bool))
    split = Split(train=train, validation=empty, test=empty, strategy="given")
    return fit_detector(config, registry, plan_training(config, registry, split), split)


def _strategy(config: Any) -> Any:
    from astraguard_train.plugins import build_registry

    spec = config.threshold
    return build_registry().create("threshold", spec.name, spec.params, where="threshold")


# -- MSL: verdicts on the first halves, scored on the second halves ---------------------------


def _halves(test: Any) -> np.ndarray:
    """True for each test row in the first half (in time) of its channel's test stream."""
    first = np.zeros(test.n_rows, dtype=bool)
    for rows in test.groups("channel").values():
        ordered = rows[np.argsort(test.timestamps[rows], kind="stable")]
        first[ordered[: ordered.size // 2]] = True
    return first


def _alarms(scored: Any) -> list[dict[str, Any]]:
    """Each flagged run of the scored first half: channel, time range, peak score, truth."""
    from astraguard_train.timeseries.events import segment_runs

    frame = scored.frame
    order = np.lexsort((frame.timestamps, frame.channels))
    flags, labels = scored.flags[order], frame.labels[order]
    ch, ts, sc = frame.channels[order], frame.timestamps[order], scored.scores[order]
    starts, ends = segment_runs(flags, ch)
    return [
        {"id": f"alarm-{i}", "channel": ch[a], "start": ts[a], "end": ts[b - 1],
         "peak": float(sc[a:b].max()), "true": bool(labels[a:b].any())}
        for i, (a, b) in enumerate(zip(starts, ends, strict=True))
    ]


def _verdicts(alarms: list[dict[str, Any]], per_channel: int | None) -> list[Any]:
    """The verdicts an operator gives: on every alarm, or on the ``per_channel`` alarms with
    the highest peak score in each channel."""
    from astraguard_train.training.update import FeedbackInterval

    chosen = alarms
    if per_channel is not None:
        chosen = []
        for c in {a["channel"] for a in alarms}:
            mine = sorted((a for a in alarms if a["channel"] == c), key=lambda a: -a["peak"])
            chosen += mine[:per_channel]
    return [FeedbackInterval(a["id"], "true_alarm" if a["true"] else "false_alarm",
                             a["start"], a["end"], a["channel"]) for a in chosen]


def _second_half_figures(detector: Any, test: Any) -> dict[str, float]:
    from astraguard_train.timeseries.events import event_score

    scored = detector.score_frame(test)
    keep = ~_halves(scored.frame)
    frame = scored.frame.take(keep)
    flags = scored.flags[keep]
    order = np.lexsort((frame.timestamps, frame.channels))
    ev = event_score(frame.labels[order], flags[order], frame.channels[order])
    return {"event_f1": ev.f1 or 0.0, "precision": ev.precision or 0.0,
            "recall": ev.recall or 0.0, "flagged_share": float(flags.mean()),
            "events": ev.n_events, "detected": ev.n_detected}


def experiment_msl(args: argparse.Namespace) -> int:
    """The MSL halves experiment; prints one line per arm and the differences."""
    from astraguard_train import PipelineConfig
    from astraguard_train.plugins import build_registry
    from astraguard_train.training.update import feedback_mask, update_detector

    if not MSL_DATA.is_file():
        print(f"{MSL_DATA} is absent", file=sys.stderr)
        return 1
    config = PipelineConfig.from_toml(MSL_CONFIG).with_overrides(["train.n_jobs=1"])
    params = {**config.loader.params, "path": str(MSL_DATA)}
    frame = build_registry().create("loader", config.loader.name, params).load()
    is_train = frame.extras["split"] == "train"
    train, test = frame.take(is_train), frame.take(~is_train)
    first = _halves(test)
    h1 = test.take(first)
    start = time.perf_counter()
    parent = _fit_detector(config, train)
    print(f"parent: {len(parent.chains)} channels trained in {time.perf_counter() - start:.1f}s")
    alarms = _alarms(parent.score_frame(h1))
    print(f"first halves: {len(alarms)} alarms, {sum(a['true'] for a in alarms)} true")
    arms: dict[str, Any] = {"parent (no update)": parent}
    plans = {"update, no feedback": None, "update, every alarm reviewed": None,
             "update, <= 5 reviewed per channel": 5}
    for name, budget in plans.items():
        verdicts = [] if name.endswith("no feedback") else _verdicts(alarms, budget)
        exclude = feedback_mask(h1, verdicts)[0] if verdicts else None
        t0 = time.perf_counter()
        arms[name] = update_detector(parent, h1, _strategy(config), exclude=exclude).detector
        print(f"{name}: {len(verdicts)} verdicts, "
              f"{0 if exclude is None else int(exclude.sum())} rows excluded, "
              f"updated in {time.perf_counter() - t0:.1f}s")
    # score each channel's whole test stream; figures on the second halves
    results = {name: _second_half_figures(det, test) for name, det in arms.items()}
    print(f"\n{'second halves':<36} {'F1':>6} {'prec':>6} {'recall':>6} {'flagged':>8}")
    for name, r in results.items():
        print(f"{name:<36} {r['event_f1']:6.3f} {r['precision']:6.3f} {r['recall']:6.3f} "
              f"{r['flagged_share']:8.2%}   ({r['detected']}/{r['events']} events)")
    base = results["update, no feedback"]
    for name in ("update, every alarm reviewed", "update, <= 5 reviewed per channel"):
        r = results[name]
        print(f"{name}: F1 {r['event_f1'] - base['event_f1']:+.3f} vs update without "
              f"feedback, {r['event_f1'] - results['parent (no update)']['event_f1']:+.3f} vs "
              f"the parent; flagged share {r['flagged_share'] - base['flagged_share']:+.2%} "
              f"(targets: F1 >= +0.05, flagged share not higher)")
    return 0


# -- update against a full retrain ---------------------------------------------------------


def _write_csv(frame: Any, split: str, path: Path) -> Path:
    """A gzip CSV as users write them: ISO timestamps, a channel column, full-precision
    floats (pyarrow writes the shortest text that reads back to the same float), a label."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    columns = {"timestamp": np.datetime_as_string(frame.timestamps, unit="ms"),
               "channel": frame.channels.astype(str)}
    columns.update({c: frame.X[:, i] for i, c in enumerate(frame.columns)})
    columns.update({"label": frame.labels, "split": np.full(frame.n_rows, split)})
    with pa.CompressedOutputStream(str(path), "gzip") as out:
        pacsv.write_csv(pa.table(columns), out)
    return path


def experiment_update(args: argparse.Namespace) -> int:
    """Update with 10% new rows against a full retrain on all rows: time and agreement."""
    from astraguard_train import Pipeline, PipelineConfig
    from astraguard_train.bundle.scoring import load_bundle
    from astraguard_train.bundle.update import update_bundle
    from astraguard_train.data.synthetic import generate

    per_channel = args.rows // args.channels
    n_new = per_channel // 10
    data = generate(n_samples=per_channel + 5000, n_channels=args.channels, seed=7,
                    anomaly_share=0.01)
    pos = np.empty(data.n_rows, dtype=np.int64)
    for rows in data.groups("channel").values():
        pos[rows] = np.arange(rows.size)
    old, new = data.take(pos < per_channel - n_new), data.take(
        (pos >= per_channel - n_new) & (pos < per_channel))
    held_out = data.take(pos >= per_channel)
    tmp = Path(tempfile.mkdtemp(prefix="bench-feedback-"))
    t0 = time.perf_counter()
    files = {"old": _write_csv(old, "train", tmp / "old.csv.gz"),
             "new": _write_csv(new, "train", tmp / "new.csv.gz"),
             "held_out": _write_csv(held_out, "test", tmp / "held_out.csv.gz")}
    all_rows = _write_csv(data.take(pos < per_channel), "train", tmp / "all.csv.gz")
    print(f"data: {old.n_rows + new.n_rows:,} rows ({args.channels} channels), "
          f"{new.n_rows:,} new; files written in {time.perf_counter() - t0:.0f}s under {tmp}")
    loader = {"name": "csv", "timestamp_column": "timestamp", "channel_column": "channel",
              "label_column": "label", "extra_columns": ["split"]}

    def retrain(path: Path, name: str) -> tuple[Path, float]:
        config = PipelineConfig.from_dict(
            {**CHANNEL_PIPELINE, "loader": {**loader, "path": str(path)},
             "persist": {"output": str(tmp / "models"), "bundle_name": name}})
        start = time.perf_counter()
        result = Pipeline(config).run()
        return Path(result.artifact), time.perf_counter() - start

    parent, t_parent = retrain(files["old"], "updated")
    print(f"parent trained on {old.n_rows:,} rows in {t_parent:.1f}s")
    start = time.perf_counter()
    done = update_bundle(parent, str(files["new"]), trusted=True)
    t_update = time.perf_counter() - start
    refit, t_full = retrain(all_rows, "retrained")
    print(f"update with {new.n_rows:,} rows: {t_update:6.2f}s   ("
          f"{done.lineage['update']['chains']})")
    print(f"full retrain on {old.n_rows + new.n_rows:,} rows: {t_full:6.2f}s")
    print(f"update is {t_full / t_update:.1f}x faster (target >= 10x)")
    a, b = (load_bundle(p, trusted=True).score(str(files["held_out"])) for p in (done.path,
                                                                                  refit))
    print(f"held-out rows scored: {a.n_rows:,}; largest score difference "
          f"{np.abs(a.scores - b.scores).max():.2e}, threshold difference "
          f"{np.abs(a.thresholds - b.thresholds).max():.2e}, flags differing on "
          f"{np.mean(a.flags != b.flags):.4%} of rows (target: scores equal to 1e-9)")
    return 0


EXPERIMENTS = {"msl": experiment_msl, "update": experiment_update}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", choices=sorted(EXPERIMENTS), required=True)
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="update: rows in all (old + new), default 1M")
    parser.add_argument("--channels", type=int, default=10, help="update: channels")
    args = parser.parse_args(argv)
    return EXPERIMENTS[args.experiment](args)


if __name__ == "__main__":
    sys.exit(main())
