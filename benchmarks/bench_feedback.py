"""Operators in the loop: feedback experiments, each against its no-feedback baseline.

``--experiment msl`` (NASA MSL, ``../shared/data/msl.csv.gz``, ``examples/msl.toml``): each
channel is trained on its ``train`` rows; its ``test`` stream is cut in two halves in time.
The parent's alarms on the first half get verdicts from the true labels (an alarm run
overlapping a labelled event is ``true_alarm``, else ``false_alarm``): an operator reviewing
every alarm, and one reviewing at most 5 per channel (the 5 with the highest peak score). The
parent is then updated with the first half and the verdicts (``update --feedback``: rows
under true alarms, and those whose errors reach back to them, are learned neither by the
forecaster nor by the dynamic threshold's history). The baseline is the same update with the
first half and no verdict: it isolates what the verdicts add (the parent is printed too).
Each updated version then scores the second halves as a new stream, as it would in service
(a stream state is tied to the version that saved it); the parent's figures are those of its
stream continued. A second table scores every detector on the whole test stream (figures on
the second halves) for comparison. Target: F1 at least 0.05 above the update without
feedback, flagged share not higher. An arm with ``threshold.verdict_floor = true`` shows
what raising each channel's floor above its false alarms' peak errors adds. Each arm's
flagged rows are split into those inside labelled events, outside them, and bridged (flagged
without crossing the threshold: the post-processing's ``merge_gap``). Then: the flagged rows
outside events, without feedback, of the channels judged false on the first halves (the most
that learning from false alarms could remove); the rows the reviewed arm would flag with none
outside events in any channel that got a verdict (the least a verdict-driven rule acting per
channel can reach while its alarms keep their rows on events); and each event that one of
the two arms detects and the other does not, with the alarm that reaches it, its crossings
inside the event, and the event's peak score against the channel's highest outside events.
``--msl`` reads another copy of the data; ``--msl-set KEY=VALUE`` (repeatable) overrides a
setting of ``examples/msl.toml``, to see how the figures move with it.

``--experiment update``: ``update`` against a full retrain. Synthetic telemetry
(``--channels`` x ``--rows`` rows, 6 full-precision float columns, ISO timestamps, a channel
column, gzip CSV) through the flagship channel pipeline (``forecast`` with ridge +
``dynamic`` + post-processing, one chain per channel). The parent is trained on the first
90%; then (a) ``update`` with the last 10% (a file of its own), (b) a full retrain on all
rows. Both times are end to end (reading the CSV, fitting, writing the bundle). Agreement:
both new bundles score a held-out file; the largest score and threshold differences and the
share of rows whose flags differ. Targets: update at least 10x faster; scores equal to 1e-9.

``--experiment review`` (ODDS, simulated operator): for each of the nine ODDS sets and each
seed (``--seed`` .. ``--seed + --seeds - 1``), PyOD's protocol (random 60/40 split, z-score,
``iforest`` fitted without labels, its bundle saved). Then five rounds: ``review --budget 10``
(the default ``mixed`` strategy, which from the second round on also learns from the verdicts
of the rounds before; ``--strategy-option learned_share=0``: blind to them) on the training
part, the sheet answered from the true labels (``true_alarm`` / ``false_alarm``) and
imported into the bundle's feedback store; the labels the store gives the training rows
(``feedback_labels``: 1 under a true alarm, 0 under a false one, -1 elsewhere) train the
product's label-using detector (``stacked``, z-score, fitted through the ordinary training
path as ``run`` fits it), whose test ROC-AUC is taken after each round. The baseline: the same
number of training rows chosen at random, labelled (1 or 0, the others -1), the same detector
(``--learner-option KEY=VALUE``: a parameter of that detector, in both arms). Reported: each arm's
gain over the unsupervised ``iforest`` after five rounds, per set (mean and standard error
over seeds) and overall (one figure per seed, the mean over sets; mean and standard error
over seeds). Target: review at least 1.5x random. The ratio is printed only when random
labels gain beyond two standard errors; otherwise 1.5x of nothing is nothing, and the target
asks review to gain beyond two standard errors, over zero and over random (paired by seed).
No label of the test part is used.

``--experiment calibrate`` (MSL, verdicts calibrating thresholds): each channel's test stream
cut in two halves in time; the first half becomes the validation part. Version 1 (``forecast``
per channel, ``max_false_alarm_rate``, alarms) raises alarms on the first halves; an operator
judges every alarm there (and, a second arm, at most the 5 highest per channel) from the true
labels; version 2 is trained the same way with ``threshold.feedback`` reading those verdicts.
Event precision, recall, F1 and the flagged share on the second halves, against version 1.

``--experiment labels``: on each of the nine ODDS sets in ``../shared/data``, PyOD's protocol
splits the rows 60/40 at random (seeds ``0..--seeds-1``) and fits a z-score scaler on the 60%.
Only 10% of the training part's anomalies keep their label (at least one, chosen at random);
every other training row is labelled 0, as an unlabelled row is. Each label-using detector is
fitted through the ordinary pipeline with those labels and scores the 40% (whose labels are
complete, and used only to measure). Baseline: the better of ``iforest`` and ``pyod.knn`` on
the same split (they ignore labels). Target: the mean over sets of ``stacked`` minus that
baseline at least +0.03, and no set below -0.01. ``stacked`` is named in advance as the
label-using detector judged; the others are printed beside it, not picked by their test figure.

``--experiment tune``: the protocol of issue 16's pima example on every ODDS set: a
stratified 60/40 split (seeds ``0..--seeds-1``), ``tune`` with ``validation_size = 0.25`` over
{zscore, quantile, power} x {iforest, lof, ocsvm} by ROC-AUC; the chosen configuration's test
ROC-AUC against the default ``iforest`` (z-score) on the same split. Target: per set, the mean
over seeds never more than 0.01 below the default's.

    python benchmarks/bench_feedback.py --experiment msl
    python benchmarks/bench_feedback.py --experiment msl --msl-set postprocess.merge_gap=80
    python benchmarks/bench_feedback.py --experiment update --rows 100000 --channels 10
    python benchmarks/bench_feedback.py --experiment review --seeds 5
    python benchmarks/bench_feedback.py --experiment review --datasets cardio,wbc --rounds 3
    python benchmarks/bench_feedback.py --experiment calibrate
    python benchmarks/bench_feedback.py --experiment calibrate --msl-channels F-5,P-15,T-5
    python benchmarks/bench_feedback.py --experiment labels
    python benchmarks/bench_feedback.py --experiment labels --seeds 3 --models stacked
    python benchmarks/bench_feedback.py --experiment labels --first-seed 3 --seeds 3
    python benchmarks/bench_feedback.py --experiment tune --sets pima --seeds 1
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MSL_DATA = ROOT.parent / "shared" / "data" / "msl.csv.gz"
MSL_CONFIG = ROOT / "examples" / "msl.toml"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_odds import DATA_DIR, DATASETS, load_frame  # noqa: E402 - a sibling script

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


def _figures(scored: Any, keep: np.ndarray) -> dict[str, Any]:
    """Event and flag figures of ``scored``'s rows in ``keep``, each channel in time order.

    Besides the event figures: the flagged rows inside labelled events (``in_events``) and
    outside them (``outside``), those flagged without their score crossing the threshold
    (``bridged``: painted by the post-processing's ``merge_gap``), and each channel's flagged
    rows outside events (``outside_by_channel``)."""
    from astraguard_train.timeseries.events import event_score

    frame = scored.frame.take(keep)
    flags = scored.flags[keep]
    with np.errstate(invalid="ignore"):
        crossed = scored.scores[keep] > scored.thresholds[keep]
    order = np.lexsort((frame.timestamps, frame.channels))
    ev = event_score(frame.labels[order], flags[order], frame.channels[order])
    event = frame.labels.astype(bool)
    outside = flags & ~event
    by_channel = {str(c): int(outside[frame.channels == c].sum())
                  for c in np.unique(frame.channels[outside])}
    return {"event_f1": ev.f1 or 0.0, "precision": ev.precision or 0.0,
            "recall": ev.recall or 0.0, "flagged_share": float(flags.mean()),
            "events": ev.n_events, "detected": ev.n_detected,
            "in_events": int((flags & event).sum()), "outside": int(outside.sum()),
            "bridged": int((flags & ~crossed).sum()), "outside_by_channel": by_channel}


def _continued(detector: Any, test: Any) -> dict[str, Any]:
    """Figures on the second halves of each channel's whole test stream scored by
    ``detector``: the stream continued across the halves."""
    scored = detector.score_frame(test)
    return _figures(scored, ~_halves(scored.frame))


def _event_changes(base: Any, arm: Any, min_length: int) -> list[str]:
    """One line per labelled event that one of two scorings of the same rows detects and the
    other does not: the event's rows, the alarm overlapping it, its rows inside the event
    whose score crossed the threshold (a run shorter than ``min_length`` alone would be
    dropped: it counts only through ``merge_gap``), its rows outside the event, and the
    highest score inside the event against the highest outside it, in that alarm and in the
    channel's rows outside events."""
    from astraguard_train.timeseries.postprocess import runs

    frame = base.frame
    lines = []
    for c in np.unique(frame.channels):
        rows = np.flatnonzero(frame.channels == c)
        rows = rows[np.argsort(frame.timestamps[rows], kind="stable")]
        event = frame.labels[rows].astype(bool)
        for a, b in zip(*runs(event), strict=True):
            found = [bool(s.flags[rows[a:b]].any()) for s in (base, arm)]
            if found[0] == found[1]:
                continue
            s = (base, arm)[found.index(True)]
            flags, scores = s.flags[rows], s.scores[rows]
            with np.errstate(invalid="ignore"):
                crossed = scores > s.thresholds[rows]
            lo, hi = runs(flags)
            k = int(np.flatnonzero((lo < b) & (hi > a))[0])
            alarm = slice(int(lo[k]), int(hi[k]))
            inside = np.zeros(rows.size, dtype=bool)
            inside[a:b] = True
            st, en = runs(crossed & inside)
            out = scores[alarm][~inside[alarm]]
            out = out[np.isfinite(out)]
            lines.append(
                f"{c}: event rows {a}-{b - 1} ({b - a}), found by "
                f"{'the baseline' if found[0] else 'the verdicts'} only: alarm rows "
                f"{alarm.start}-{alarm.stop - 1} ({alarm.stop - alarm.start}), "
                f"{int(flags[alarm][~inside[alarm]].sum())} outside the event; crossings "
                f"inside it {int((en - st).sum())} rows, longest run "
                f"{int((en - st).max(initial=0))} (min_event_length {min_length}); peak "
                f"score inside {np.nanmax(scores[a:b]):.3f}, in the alarm outside it "
                f"{out.max() if out.size else float('nan'):.3f}, in the channel outside "
                f"events {np.nanmax(np.where(event, np.nan, scores)):.3f}"
            )
    return lines


def _print_arms(title: str, results: dict[str, dict[str, Any]], base: str) -> None:
    print(f"\n{title:<40} {'F1':>6} {'prec':>6} {'recall':>6} {'flagged':>8} "
          f"{'in ev.':>6} {'outside':>7} {'bridged':>7}")
    for name, r in results.items():
        print(f"{name:<40} {r['event_f1']:6.3f} {r['precision']:6.3f} {r['recall']:6.3f} "
              f"{r['flagged_share']:8.2%} {r['in_events']:6} {r['outside']:7} "
              f"{r['bridged']:7}   ({r['detected']}/{r['events']} events)")
    b = results[base]
    for name, r in results.items():
        if "reviewed" in name:
            f1, share = r["event_f1"] - b["event_f1"], r["flagged_share"] - b["flagged_share"]
            met = f1 >= 0.05 and share <= 0
            print(f"  {name}: F1 {f1:+.3f}, flagged share {share:+.2%} vs {base!r} "
                  f"(target F1 >= +0.05, flagged share not higher: {'met' if met else 'MISSED'})")


def experiment_msl(args: argparse.Namespace) -> int:
    """The MSL halves experiment; prints each arm's figures and the differences."""
    from astraguard_train import PipelineConfig
    from astraguard_train.plugins import build_registry
    from astraguard_train.training.update import feedback_rows, update_detector

    if not args.msl.is_file():
        print(f"{args.msl} is absent", file=sys.stderr)
        return 1
    config = PipelineConfig.from_toml(MSL_CONFIG).with_overrides(["train.n_jobs=1",
                                                                  *args.msl_set])
    params = {**config.loader.params, "path": str(args.msl)}
    frame = build_registry().create("loader", config.loader.name, params).load()
    is_train = frame.extras["split"] == "train"
    train, test = frame.take(is_train), frame.take(~is_train)
    first = _halves(test)
    h1, h2 = test.take(first), test.take(~first)
    start = time.perf_counter()
    parent = _fit_detector(config, train)
    print(f"parent: {len(parent.chains)} channels trained in {time.perf_counter() - start:.1f}s")
    # the same parent, its dynamic thresholds told to raise floors from false alarms
    floor = config.with_overrides(["threshold.verdict_floor=true"])
    parent_floor = _fit_detector(floor, train)
    alarms = _alarms(parent.score_frame(h1))
    print(f"first halves: {len(alarms)} alarms, {sum(a['true'] for a in alarms)} true "
          "(verdicts from the labels)")
    updated: dict[str, Any] = {}
    plans = (("update, no feedback", parent, 0), ("update, every alarm reviewed", parent, None),
             ("update, <= 5 reviewed per channel", parent, 5),
             ("update, every alarm reviewed, verdict_floor", parent_floor, None))
    for name, base, budget in plans:
        verdicts = [] if budget == 0 else _verdicts(alarms, budget)
        joined = feedback_rows(h1, verdicts)
        t0 = time.perf_counter()
        done = update_detector(base, h1, _strategy(config), feedback=joined)
        updated[name] = done.detector
        taught = [c.verdicts for c in done.chains if c.verdicts is not None]
        raised = sum(v["value_after"] > v["value_before"] for v in taught)
        print(f"{name}: {len(verdicts)} verdicts, {int(joined.exclude.sum())} rows excluded, "
              f"{raised} channel floor(s) raised, updated in {time.perf_counter() - t0:.1f}s")
    # An updated version takes over at the second half: a stream state saved by the parent is
    # refused by another version, so it starts a new stream there (its dynamic windows start
    # with the history the update left). The parent runs on, its stream continued.
    scored = {name: det.score_frame(h2) for name, det in updated.items()}
    every = np.ones(h2.n_rows, dtype=bool)
    new = {"parent (no update), stream continued": _continued(parent, test)}
    new.update({name: _figures(s, every) for name, s in scored.items()})
    base, judged_arm = "update, no feedback", "update, every alarm reviewed"
    _print_arms("second halves, new version's own stream", new, base)
    # What per-channel learning from false alarms could remove at most: the flagged rows
    # outside events, in the second halves, of the channels that got a false-alarm verdict.
    false_ch = sorted({str(a["channel"]) for a in alarms if not a["true"]})
    spare = new[base]["outside_by_channel"]
    print(f"channels with a false-alarm verdict: {', '.join(false_ch)}; their flagged rows "
          f"outside events on the second halves ({base}): "
          f"{sum(spare.get(c, 0) for c in false_ch)} of {new[base]['outside']}")
    # The floor of any verdict-driven rule that acts per channel and keeps its alarms' rows
    # on events: the reviewed arm with no flagged row outside events in a judged channel.
    judged = sorted({str(a["channel"]) for a in alarms})
    r, b = new[judged_arm], new[base]
    cut = sum(r["outside_by_channel"].get(c, 0) for c in judged)
    least = r["in_events"] + r["outside"] - cut
    print(f"channels with any verdict: {', '.join(judged)}; their flagged rows outside events "
          f"({judged_arm}): {cut}; without any of them it would flag {least} rows "
          f"({least / h2.n_rows:.2%}), {base!r} flags {b['in_events'] + b['outside']} "
          f"({b['flagged_share']:.2%})")
    print(f"events detected by one of {base!r} and {judged_arm!r} only:")
    for line in _event_changes(scored[base], scored[judged_arm],
                               int(config.postprocess.min_event_length or 1)):
        print(f"  {line}")
    # For comparison: every detector scoring each channel's whole test stream, so the updated
    # ones rescore the first half and their windows at the second half hold its errors.
    cont = {"parent (no update)": _continued(parent, test)}
    cont.update({name: _continued(det, test) for name, det in updated.items()})
    _print_arms("second halves, whole test stream scored", cont, "update, no feedback")
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


#: The label-using detector the review experiment trains on the operator's verdicts.
REVIEW_LEARNER = "stacked"


def label_scores(train: Any, known: np.ndarray, test: Any, seed: int,
                 learner: dict[str, Any] | None = None) -> np.ndarray:
    """Test scores of the product's label-using detector (:data:`REVIEW_LEARNER`, z-score)
    fitted through the ordinary training path on ``train`` with the labels known (1 anomaly,
    0 normal, -1 not judged, as the detector takes them); ``learner``: its parameters."""
    import attrs

    from astraguard_train import PipelineConfig

    config = PipelineConfig.from_dict({
        "scaler": {"name": "zscore"},
        "model": {"name": REVIEW_LEARNER, "random_state": seed, **(learner or {})},
        "threshold": {"name": "contamination", "contamination": 0.1},
    })
    labelled = attrs.evolve(train, labels=known)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector = _fit_detector(config, labelled)
        return np.asarray(detector.score_frame(test.without_labels()).scores)


def _answer(sheet_rows: list[dict[str, Any]], labels: np.ndarray, path: Path) -> Path:
    """The operator: each review row's verdict from the true labels of the rows it covers."""
    from astraguard_train.feedback.sheets import write_sheet

    answered = []
    for row in sheet_rows:
        rows = labels[row["first_row"]: row["last_row"] + 1]
        verdict = "true_alarm" if rows.any() else "false_alarm"
        answered.append({**row, "verdict": verdict, "author": "simulated-operator"})
    write_sheet(path, answered)
    return path


def review_one(path: Path, rounds: int, budget: int, seed: int, workdir: Path,
               strategy: str = "mixed", params: dict[str, Any] | None = None,
               every_round: bool = False,
               learner: dict[str, Any] | None = None) -> dict[str, Any]:
    """One ODDS set: the unsupervised figure, then each arm's figure after the last round
    (``every_round``: after every round)."""
    from sklearn.metrics import roc_auc_score

    from astraguard_train import Pipeline, PipelineConfig, load_bundle
    from astraguard_train.feedback import FeedbackStore, feedback_labels
    from astraguard_train.feedback.review import review
    from astraguard_train.feedback.sheets import import_sheet

    frame = load_frame(str(path))
    config = PipelineConfig.from_dict({
        "split": {"strategy": "random", "test_size": 0.4, "seed": seed},
        "scaler": {"name": "zscore"},
        "model": {"name": "iforest", "random_state": seed},
        "threshold": {"name": "contamination", "contamination": 0.1},
        "evaluate": {"metrics": ["ranking"]},
        "validation": {"enabled": False},
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = Pipeline(config)
        pipe.run(data=frame, output=str(workdir))
    bundle = load_bundle(pipe.context.artifact, trusted=True)
    train, test = pipe.context.split.train, pipe.context.split.test
    base_test = bundle.score(test).scores
    y_test = test.labels
    unsupervised = float(roc_auc_score(y_test, base_test))
    # the operator knows the truth of the original rows; feedback covers rows by their index
    truth = np.zeros(int(frame.index.max()) + 1, dtype=np.int8)
    truth[frame.index] = frame.labels
    unlabelled = train.without_labels()
    store = FeedbackStore(pipe.context.artifact)
    rng = np.random.default_rng(seed)
    random_order = rng.permutation(train.n_rows)
    by_review, by_random, anomalies = [], [], []
    for r in range(1, rounds + 1):
        chosen = review(bundle, unlabelled, budget, strategy, params)
        import_sheet(_answer(chosen.rows, truth, workdir / f"round{r}.csv"))
        if r < rounds and not every_round:
            continue
        known = feedback_labels(train, store.verdicts())
        by_review.append(float(roc_auc_score(
            y_test, label_scores(train, known, test, seed, learner))))
        asked = int((known >= 0).sum())
        anomalies.append(int((known == 1).sum()))
        random_known = np.full(train.n_rows, -1, dtype=np.int8)
        picked = random_order[:asked]  # as many labelled rows as the operator gave
        random_known[picked] = train.labels[picked]
        random_anomalies = int(train.labels[picked].sum())
        by_random.append(float(roc_auc_score(
            y_test, label_scores(train, random_known, test, seed, learner))))
    return {
        "unsupervised": unsupervised, "review": by_review, "random": by_random,
        "labelled_rows": asked, "labelled_anomalies": anomalies[-1],
        "random_anomalies": random_anomalies, "train_anomalies": int(train.labels.sum()),
    }


def _review_job(path: Path, rounds: int, budget: int, seed: int, strategy: str,
                params: dict[str, Any], every_round: bool,
                learner: dict[str, Any]) -> dict[str, Any]:
    """:func:`review_one` in a temporary directory of its own (a joblib job)."""
    with tempfile.TemporaryDirectory() as tmp:
        return review_one(path, rounds, budget, seed, Path(tmp), strategy, params, every_round,
                          learner)


def _mean_se(values: list[float]) -> tuple[float, float]:
    """The mean and its standard error (0 for fewer than two values)."""
    a = np.asarray(values, dtype=np.float64)
    se = float(a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else 0.0
    return float(a.mean()), se


def review_verdict(review_gains: list[float], random_gains: list[float]) -> tuple[str, bool]:
    """The review target judged from per-seed mean gains (one value per seed, the mean over
    the sets), as a sentence and met/missed.

    The ratio of the mean gains means something only when random labels gain beyond their
    noise (mean above two standard errors): then the target is review >= 1.5x random. When
    random labels gain nothing measurable, 1.5x of it is zero, and review must gain beyond
    its own noise (two standard errors) and beyond random's (paired by seed)."""
    rev, rev_se = _mean_se(review_gains)
    rnd, rnd_se = _mean_se(random_gains)
    diff, diff_se = _mean_se([a - b for a, b in zip(review_gains, random_gains, strict=True)])
    if rnd > 2 * rnd_se and rnd > 0:
        met = rev >= 1.5 * rnd
        return (f"ratio {rev / rnd:.2f}x (target >= 1.5x): {'met' if met else 'MISSED'}; "
                f"review - random {diff:+.4f} +/- {diff_se:.4f} (paired by seed)"), met
    met = rev > 2 * rev_se and diff > 2 * diff_se
    return (f"random labels gain nothing measurable ({rnd:+.4f} +/- {rnd_se:.4f}), so no ratio; "
            f"review {rev:+.4f} +/- {rev_se:.4f}, review - random {diff:+.4f} +/- {diff_se:.4f} "
            f"(target: both above 2 standard errors): {'met' if met else 'MISSED'}"), met


def experiment_review(args: argparse.Namespace) -> int:
    """ODDS, simulated operator: ``review`` against random labels (module docstring)."""
    import joblib

    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    paths = {d: args.data_dir / f"odds_{d}.csv" for d in names}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        print(f"missing data file(s): {', '.join(missing)}", file=sys.stderr)
        return 2
    from astraguard_train.cli.score import parse_options

    params = parse_options(args.strategy_option, flag="--strategy-option")
    learner = parse_options(args.learner_option, flag="--learner-option")
    seeds = list(range(args.seed, args.seed + args.seeds))
    jobs = [(d, seed) for d in names for seed in seeds]
    jobs.sort(key=lambda j: -paths[j[0]].stat().st_size)  # the longest first
    start = time.perf_counter()
    done = joblib.Parallel(n_jobs=args.n_jobs)(
        joblib.delayed(_review_job)(paths[d], args.rounds, args.budget, seed, args.strategy,
                                    params, args.per_round, learner) for d, seed in jobs)
    results = {(d, seed): res for (d, seed), res in zip(jobs, done, strict=True)}
    seconds = time.perf_counter() - start
    print(f"ODDS, simulated operator: {args.rounds} rounds of review --budget {args.budget} "
          f"({args.strategy}) vs as many random labelled rows; test ROC-AUC gain over "
          f"iforest; seeds {seeds[0]}..{seeds[-1]} (mean +/- standard error over seeds); "
          f"{seconds:.1f} s")
    head = ("dataset", "iforest", "review", "random", "gain_rev", "+/-", "gain_rnd", "+/-",
            "labelled", "anom rev", "anom rnd")
    print("{:<11} {:>7} {:>7} {:>7} {:>8} {:>6} {:>8} {:>6} {:>8} {:>9} {:>8}".format(*head))
    for d in names:
        mine = [results[(d, seed)] for seed in seeds]
        g_rev = [r["review"][-1] - r["unsupervised"] for r in mine]
        g_rnd = [r["random"][-1] - r["unsupervised"] for r in mine]
        (m_rev, se_rev), (m_rnd, se_rnd) = _mean_se(g_rev), _mean_se(g_rnd)
        anom = (f"{np.mean([r['labelled_anomalies'] for r in mine]):.1f}/"
                f"{np.mean([r['train_anomalies'] for r in mine]):.0f}")
        print(f"{d:<11} {np.mean([r['unsupervised'] for r in mine]):>7.4f} "
              f"{np.mean([r['review'][-1] for r in mine]):>7.4f} "
              f"{np.mean([r['random'][-1] for r in mine]):>7.4f} {m_rev:>+8.4f} {se_rev:>6.4f} "
              f"{m_rnd:>+8.4f} {se_rnd:>6.4f} "
              f"{np.mean([r['labelled_rows'] for r in mine]):>8.1f} {anom:>9} "
              f"{np.mean([r['random_anomalies'] for r in mine]):>8.1f}")
        if args.per_round:
            for seed, r in zip(seeds, mine, strict=True):
                rounds = " ".join(f"{a:.3f}/{b:.3f}" for a, b in
                                  zip(r["review"], r["random"], strict=True))
                print(f"{'':<11} seed {seed} by round (review/random): {rounds}")
    # one figure per seed, the mean over the sets: the spread is that of whole repetitions
    per_seed = {
        arm: [float(np.mean([results[(d, seed)][arm][-1] - results[(d, seed)]["unsupervised"]
                             for d in names])) for seed in seeds]
        for arm in ("review", "random")
    }
    (m_rev, se_rev), (m_rnd, se_rnd) = _mean_se(per_seed["review"]), _mean_se(per_seed["random"])
    print(f"summary mean gain over sets and seeds: review {m_rev:+.4f} +/- {se_rev:.4f}, "
          f"random {m_rnd:+.4f} +/- {se_rnd:.4f} (per seed: review "
          + " ".join(f"{g:+.4f}" for g in per_seed["review"]) + "; random "
          + " ".join(f"{g:+.4f}" for g in per_seed["random"]) + ")")
    sentence, _ = review_verdict(per_seed["review"], per_seed["random"])
    print(f"target: {sentence}")
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["dataset", "seed", "round", "iforest", "review", "random"])
            for (d, seed), res in results.items():
                first = args.rounds - len(res["review"]) + 1  # the last only, or every one
                for r, (a, b) in enumerate(zip(res["review"], res["random"], strict=True),
                                           first):
                    writer.writerow([d, seed, r, res["unsupervised"], a, b])
    return 0


def _msl_halves(path: Path, channels: list[str] | None) -> tuple[Any, np.ndarray]:
    """MSL with each channel's test rows cut in two halves in time: the first becomes the
    validation part (the period the operator reviews), the second stays the test part. Live
    telemetry has no labels, so the first halves' labels are zeroed in the frame the pipeline
    gets; the true labels are returned beside it, for the simulated operator only."""
    import attrs

    from astraguard_train.config import PipelineConfig
    from astraguard_train.plugins import build_registry

    config = PipelineConfig.from_toml(MSL_CONFIG)
    frame = build_registry().create(
        "loader", config.loader.name, {**config.loader.params, "path": str(path)}).load()
    if channels:
        frame = frame.take(np.isin(frame.channels, channels))
    split = np.char.lower(frame.extras["split"].astype(str)).astype("<U10")
    for channel in np.unique(frame.channels):
        rows = np.flatnonzero((frame.channels == channel) & (split == "test"))
        rows = rows[np.argsort(frame.timestamps[rows], kind="stable")]
        split[rows[: len(rows) // 2]] = "validation"
    truth = np.zeros(int(frame.index.max()) + 1, dtype=np.int8)  # by row of the file
    truth[frame.index] = frame.labels
    labels = np.where(split == "validation", 0, frame.labels).astype(np.int8)
    return attrs.evolve(frame, labels=labels, extras={**frame.extras, "split": split}), truth


def _operator_sheet(bundle: Any, validation: Any, truth: np.ndarray,
                    per_channel: int | None) -> list[dict[str, Any]]:
    """Every alarm on the validation part (or the ``per_channel`` highest of each channel),
    answered from its rows' true labels."""
    from astraguard_train.feedback.review import candidates, sheet_rows

    scored = bundle.score(validation)
    pool = candidates(scored)
    alarms = np.flatnonzero(pool.flagged)
    if per_channel is not None:
        keep = []
        for channel in np.unique(pool.channel[alarms].astype(str)):
            mine = alarms[pool.channel[alarms].astype(str) == channel]
            keep += mine[np.argsort(-pool.margin[mine], kind="stable")][:per_channel].tolist()
        alarms = np.array(sorted(keep), dtype=np.int64)
    rows = sheet_rows(pool, alarms, str(bundle.path.parent), int(bundle.path.name))
    frame = scored.frame
    for row in rows:
        inside = (frame.channels.astype(str) == row["channel"]) & (
            frame.timestamps >= np.datetime64(row["start"])) & (
            frame.timestamps <= np.datetime64(row["end"]))
        real = bool(truth[frame.index[inside]].any())
        row.update(verdict="true_alarm" if real else "false_alarm", author="operator")
    return rows


def experiment_calibrate(args: argparse.Namespace) -> int:
    """MSL halves: ``max_false_alarm_rate`` with and without the operator's verdicts."""
    import shutil

    from astraguard_train import Pipeline, PipelineConfig, load_bundle
    from astraguard_train.feedback.sheets import import_sheet, write_sheet

    if not args.msl.is_file():
        print(f"missing data file: {args.msl}", file=sys.stderr)
        return 2
    channels = [c for c in args.msl_channels.split(",") if c] if args.msl_channels else None
    frame, truth = _msl_halves(args.msl, channels)
    base = PipelineConfig.from_toml(MSL_CONFIG).with_overrides(
        ["threshold.name=max_false_alarm_rate", f"threshold.rate={args.rate}",
         "train.n_jobs=2"])
    start = time.perf_counter()
    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        pipe = Pipeline(base)
        figures["no feedback"] = pipe.run(data=frame, output=f"{tmp}/v1").metrics
        bundle = load_bundle(pipe.context.artifact, trusted=True)
        validation = pipe.context.split.validation
        for arm, limit in (("every alarm judged", None), ("<= 5 alarms per channel", 5)):
            store = Path(tmp) / arm.replace(" ", "_").replace("<=", "le") / "detector"
            shutil.copytree(Path(pipe.context.artifact).parent, store)
            rows = _operator_sheet(bundle, validation, truth, limit)
            for row in rows:
                row["bundle"] = str(store)
            write_sheet(Path(tmp) / "sheet.csv", rows)
            judged = import_sheet(Path(tmp) / "sheet.csv").added
            tuned = base.with_overrides([f"threshold.feedback={store}"])
            metrics = Pipeline(tuned).run(data=frame, persist=False).metrics
            figures[arm] = {**metrics, "verdicts": judged,
                            "false": sum(r["verdict"] == "false_alarm" for r in rows)}
    seconds = time.perf_counter() - start
    print(f"MSL halves ({len(np.unique(frame.channels))} channels): forecast + "
          f"max_false_alarm_rate (rate {args.rate}) + alarms; verdicts on the first test "
          f"halves (validation), figures on the second halves; {seconds:.1f} s")
    print(f"{'arm':<26} {'verdicts':>8} {'false':>6} {'P':>6} {'R':>6} {'F1':>6} {'flagged':>8}")
    for arm, m in figures.items():
        p, r = m.get("event_precision"), m.get("event_recall")
        f1 = 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else 0.0
        print(f"{arm:<26} {m.get('verdicts', 0):>8} {m.get('false', 0):>6} "
              f"{p or 0:>6.3f} {r or 0:>6.3f} {f1:>6.3f} {m.get('flagged_share', 0):>8.2%}")
    return 0


# -- ODDS: labels and tune ---------------------------------------------------------------------

ODDS_DATA = ROOT.parent / "shared" / "data"
SETS = (
    "arrhythmia", "cardio", "ionosphere", "pima", "satellite", "satimage-2", "shuttle",
    "thyroid", "wbc",
)


def load(name: str) -> Any:
    """An ODDS CSV (``f0..fN``, ``label``) as a Frame with every label."""
    import pandas as pd

    from astraguard_train.data.frame import Frame

    df = pd.read_csv(ODDS_DATA / f"odds_{name}.csv")
    labels = df.pop("label").to_numpy()
    return Frame(X=df.to_numpy(np.float64), columns=list(df.columns), labels=labels,
                 source=f"odds_{name}.csv")


def _odds_run(frame: Any, split: dict[str, Any], model: str, seed: int, registry: Any) -> Any:
    """One pipeline run (no bundle); returns its result."""
    from astraguard_train.config import PipelineConfig
    from astraguard_train.training.pipeline import Pipeline

    params: dict[str, Any] = {}
    if "random_state" in registry.get("model", model).params:
        params["random_state"] = seed
    config = PipelineConfig.from_dict(
        {
            "split": split,
            "scaler": {"name": "zscore"},
            "model": {"name": model, **params},
            "threshold": {"name": "fixed", "value": 0.0},  # ROC-AUC ignores the threshold
            "evaluate": {"metrics": ["ranking"]},
            "validation": {"enabled": False},  # ODDS has duplicated rows, constant columns
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Pipeline(config, registry).run(data=frame, persist=False)


# -- experiment: labels -----------------------------------------------------------------------

BASELINES = ("iforest", "pyod.knn")
JUDGED = "stacked"


def few_labels(frame: Any, split: dict[str, Any], share: float, seed: int) -> tuple[Any, int]:
    """``frame`` with only ``share`` of the training part's anomalies still labelled 1 (at
    least one); test rows keep every label. Returns the frame and the labelled count."""
    import attrs

    from astraguard_train.config import SplitConfig
    from astraguard_train.data.splits import split_frame

    parts = split_frame(frame, SplitConfig(**split))
    train_anomalies = parts.train.index[parts.train.labels == 1]
    n = max(1, int(round(share * len(train_anomalies))))
    keep = np.random.default_rng(seed).choice(train_anomalies, n, replace=False)
    labels = frame.labels.copy()
    hidden = np.setdiff1d(train_anomalies, keep)
    labels[hidden] = 0
    return attrs.evolve(frame, labels=labels), n


def labels_one(name: str, seed: int, share: float,
               models: list[str] | None = None) -> dict[str, Any]:
    """Test ROC-AUC of the baselines and the label-using detectors (``models``, default
    every registered one) on one split."""
    from astraguard_train.plugins import build_registry

    registry = build_registry()
    split = {"strategy": "random", "test_size": 0.4, "seed": seed}
    full = load(name)
    masked, n = few_labels(full, split, share, seed)
    out: dict[str, Any] = {"set": name, "seed": seed, "labelled": n}
    for model in BASELINES:
        out[model] = float(_odds_run(full, split, model, seed, registry).metrics["roc_auc"])
    for model in models or label_models(registry):
        result = _odds_run(masked, split, model, seed, registry)
        out[model] = float(result.metrics["roc_auc"]) if result.ok else float("nan")
    return out


def label_models(registry: Any) -> list[str]:
    """The registered detectors that declare ``uses_labels``, the judged one first."""
    from astraguard_train.plugins.contracts import label_using_models

    return sorted(label_using_models(registry), key=lambda n: (n != JUDGED, n))


def experiment_labels(args: argparse.Namespace) -> int:
    import joblib

    sets = [s for s in args.sets.split(",") if s]
    models = [m for m in args.models.split(",") if m] if args.models else None
    if models and JUDGED not in models:
        models.insert(0, JUDGED)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(s, seed) for s in sets for seed in seeds]
    jobs.sort(key=lambda j: -(ODDS_DATA / f"odds_{j[0]}.csv").stat().st_size)
    start = time.perf_counter()
    rows = joblib.Parallel(n_jobs=args.n_jobs)(
        joblib.delayed(labels_one)(s, seed, args.share, models) for s, seed in jobs
    )
    seconds = time.perf_counter() - start
    models = [k for k in rows[0] if k not in ("set", "seed", "labelled", *BASELINES)]
    print(f"ODDS, 60/40 random split, z-score, {args.share:.0%} of the training anomalies "
          f"labelled; test ROC-AUC, mean of seeds {seeds[0]}..{seeds[-1]}; {seconds:.0f} s")
    print(f"baseline = the better of {' and '.join(BASELINES)} per set (mean over seeds)")
    head = f"{'set':<11} {'labels':>6} {'iforest':>8} {'knn':>8} {'baseline':>8}"
    print(head + "".join(f" {m:>10} {'diff':>7}" for m in models))
    diffs: dict[str, list[float]] = {m: [] for m in models}
    for s in sets:
        mine = [r for r in rows if r["set"] == s]
        mean = {k: float(np.mean([r[k] for r in mine])) for k in (*BASELINES, *models)}
        base = max(mean[b] for b in BASELINES)
        labelled = np.mean([r["labelled"] for r in mine])
        line = f"{s:<11} {labelled:>6.1f} {mean['iforest']:>8.4f} {mean['pyod.knn']:>8.4f} "
        line += f"{base:>8.4f}"
        for m in models:
            diffs[m].append(mean[m] - base)
            line += f" {mean[m]:>10.4f} {mean[m] - base:>+7.4f}"
        print(line)
    for m in models:
        d = np.array(diffs[m])
        worst = sets[int(np.argmin(d))]
        print(f"summary {m:<10} mean diff {d.mean():+.5f}, worst {d.min():+.5f} ({worst})")
    d = np.array(diffs[JUDGED])
    met = d.mean() >= 0.03 and d.min() >= -0.01
    print(f"target ({JUDGED}: mean >= +0.03, no set below -0.01): "
          f"{'met' if met else 'MISSED'}")
    return 0


# -- experiment: tune -------------------------------------------------------------------------

SPACE = {"scaler.name": ["zscore", "quantile", "power"], "model.name": ["iforest", "lof", "ocsvm"]}


def tune_one(name: str, seed: int) -> dict[str, Any]:
    """The pima protocol on one set and seed: chosen and default test ROC-AUC."""
    from astraguard_train.config import PipelineConfig
    from astraguard_train.plugins import build_registry
    from astraguard_train.selection.tuning import tune

    registry = build_registry()
    split = {"strategy": "stratified", "test_size": 0.4, "seed": seed}
    frame = load(name)
    default = _odds_run(frame, split, "iforest", seed, registry)
    config = PipelineConfig.from_dict(
        {
            "split": split,
            "scaler": {"name": "zscore"},
            "model": {"name": "iforest", "random_state": seed},
            "threshold": {"name": "fixed", "value": 0.0},
            "evaluate": {"metrics": ["ranking"]},
            "validation": {"enabled": False},
            "search": {"metric": "roc_auc", "validation_size": 0.25, "seed": seed,
                       "space": SPACE},
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = tune(config, registry=registry, data=frame, persist=False)
    assert result.run is not None
    return {
        "set": name, "seed": seed, "default": float(default.metrics["roc_auc"]),
        "chosen": float(result.run.metrics["roc_auc"]), "params": result.best.params,
        "n_folds": result.n_folds, "kept_default": result.selection.get("kept_default"),
        "winner_by_mean": result.leaderboard[0].params,
    }


def experiment_tune(args: argparse.Namespace) -> int:
    import joblib

    sets = [s for s in args.sets.split(",") if s]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(s, seed) for s in sets for seed in seeds]
    jobs.sort(key=lambda j: -(ODDS_DATA / f"odds_{j[0]}.csv").stat().st_size)
    start = time.perf_counter()
    rows = joblib.Parallel(n_jobs=args.n_jobs)(
        joblib.delayed(tune_one)(s, seed) for s, seed in jobs
    )
    seconds = time.perf_counter() - start
    print(f"tune, pima protocol (stratified 60/40, validation_size 0.25, 3 scalers x iforest/"
          f"lof/ocsvm), test ROC-AUC, mean of seeds {seeds[0]}..{seeds[-1]}; {seconds:.0f} s")
    print(f"{'set':<11} {'default':>8} {'chosen':>8} {'diff':>7} {'folds':>5}  kept default / "
          "choices")
    worst = 0.0
    for s in sets:
        mine = sorted((r for r in rows if r["set"] == s), key=lambda r: r["seed"])
        d = float(np.mean([r["default"] for r in mine]))
        c = float(np.mean([r["chosen"] for r in mine]))
        worst = min(worst, c - d)
        kept = sum(bool(r["kept_default"]) for r in mine)
        folds = int(np.max([r["n_folds"] for r in mine]))
        picks = "; ".join(
            "/".join(str(v) for v in r["params"].values()) or "default" for r in mine
        )
        print(f"{s:<11} {d:>8.4f} {c:>8.4f} {c - d:>+7.4f} {folds:>5}  {kept}/{len(mine)}: "
              f"{picks}")
    print(f"worst set: {worst:+.4f}; target (never below -0.01): "
          f"{'met' if worst >= -0.01 else 'MISSED'}")
    return 0


EXPERIMENTS = {
    "msl": experiment_msl,
    "update": experiment_update,
    "review": experiment_review,
    "calibrate": experiment_calibrate,
    "labels": experiment_labels,
    "tune": experiment_tune,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", choices=sorted(EXPERIMENTS), required=True)
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="update: rows in all (old + new), default 1M")
    parser.add_argument("--channels", type=int, default=10, help="update: channels")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="review: ODDS files")
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help="review: comma-separated ODDS names")
    parser.add_argument("--rounds", type=int, default=5, help="review: rounds")
    parser.add_argument("--budget", type=int, default=10, help="review: --budget per round")
    parser.add_argument("--seed", type=int, default=0,
                        help="review: the first seed (split, detectors, random labels)")
    parser.add_argument("--strategy", default="mixed", help="review: the review strategy")
    parser.add_argument("--strategy-option", action="append", default=[], metavar="KEY=VALUE",
                        help="review: a parameter of the strategy (repeatable)")
    parser.add_argument("--learner-option", action="append", default=[], metavar="KEY=VALUE",
                        help=f"review: a parameter of the label-using detector "
                             f"({REVIEW_LEARNER}); repeatable")
    parser.add_argument("--per-round", action="store_true",
                        help="review: figures after every round, not only the last")
    parser.add_argument("--csv", default=None, help="review: write the figures per round here")
    parser.add_argument("--msl", type=Path, default=MSL_DATA, help="msl, calibrate: MSL data")
    parser.add_argument("--msl-set", action="append", default=[], metavar="KEY=VALUE",
                        help="msl: override a setting of examples/msl.toml (repeatable), to "
                             "see how the figures move with it")
    parser.add_argument("--msl-channels", default=None,
                        help="calibrate: only these MSL channels (comma-separated)")
    parser.add_argument("--rate", type=float, default=0.01,
                        help="calibrate: the false-alarm budget")
    parser.add_argument("--sets", default=",".join(SETS),
                        help="labels, tune: comma-separated ODDS names")
    parser.add_argument("--seeds", type=int, default=5,
                        help="labels, tune: seeds 0..N-1 (from --first-seed); review: seeds "
                             "--seed..--seed+N-1")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="labels, tune: the first seed (seeds FIRST..FIRST+N-1)")
    parser.add_argument("--share", type=float, default=0.1,
                        help="labels: share of the training anomalies labelled (default 0.1)")
    parser.add_argument("--models", default=None,
                        help="labels: only these label-using detectors (comma-separated; "
                             f"{JUDGED} always), default every registered one")
    parser.add_argument("--n-jobs", type=int, default=2,
                        help="labels, tune, review: parallel runs (joblib, loky)")
    args = parser.parse_args(argv)
    if args.experiment in ("labels", "tune"):
        names = [s for s in args.sets.split(",") if s]
        missing = [s for s in names if not (ODDS_DATA / f"odds_{s}.csv").exists()]
        if missing:
            print(f"missing data: {', '.join(missing)} under {ODDS_DATA}", file=sys.stderr)
            return 2
    if args.experiment in ("labels", "tune", "review"):
        # workers import this file by name (functions of __main__ do not unpickle there)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        module = __import__("bench_feedback")
        return int(getattr(module, EXPERIMENTS[args.experiment].__name__)(args))
    return EXPERIMENTS[args.experiment](args)


if __name__ == "__main__":
    sys.exit(main())
