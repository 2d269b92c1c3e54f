"""A/B comparison of two detectors' flags on the same rows, with a paired bootstrap.

Both detectors score the same input (shadow mode: the challenger's alarms are reported, never
acted on). Rows are matched by their position in the input, so a chain that drops warm-up rows
is compared only on the rows both scored.

Agreement needs no labels. Metrics need them: a label per row, ``1`` anomaly, ``0`` normal,
``-1`` unknown (an operator's verdicts cover only some rows). Only labelled rows count, and a
run of labelled rows never joins across an unlabelled gap.

The difference of the key metric (challenger minus champion) gets a paired bootstrap: the
resampled units are *episodes*, the maximal runs of rows (within one channel) where either
detector flags or an event is labelled, cut before each labelled event they hold (one long
alarm over many events, the mark of a flooding detector, is one unit per event). Every event
and every flagged run is counted in the episode where it starts, with what it overlaps over
its whole length, so each episode carries its own counts (events, events each side detected,
flagged runs, true runs, true/false positives) and a replicate is a weighted sum of those
counts: ``weights @ counts``, with no loop over replicates. Resampling episodes rather than
rows keeps the serial dependence of telemetry inside a unit. Rows of tabular data (no timestamps, no
channels) are independent: each labelled-or-flagged row is its own unit.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ..errors import DataError
from ..timeseries.events import segment_runs
from ..training.scored import Scored

#: Key metrics a comparison can decide on.
KEY_METRICS = ("event_f1", "f1")

# Per-episode count columns, one block per side: events and rows.
_SIDE = ("detected", "runs", "true_runs", "tp", "fp", "fn")
_EVENTS = 0  # the shared first column: labelled events in the episode


@attrs.frozen
class SideFigures:
    """One detector's figures on the compared rows."""

    n_flagged: int
    alarm_rate: float
    n_alarms: int
    metrics: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return {"n_flagged": self.n_flagged, "alarm_rate": self.alarm_rate,
                "n_alarms": self.n_alarms, **self.metrics}


@attrs.frozen(eq=False)
class Comparison:
    """What :func:`compare` measured. ``differences`` holds the bootstrap replicates of the
    key metric's difference (challenger minus champion), so a decision rule can take the
    interval at its own confidence level (:meth:`interval`)."""

    n_rows: int
    n_labelled_rows: int
    n_labelled_events: int
    n_labelled_anomalous_rows: int
    key_metric: str
    champion: SideFigures
    challenger: SideFigures
    agreement: dict[str, Any]
    difference: float | None
    differences: np.ndarray
    seed: int

    @property
    def n_units(self) -> int:
        """Labelled events for ``event_f1``, anomalous labelled rows for ``f1``: what a rule
        asks enough of before it trusts the difference."""
        return self.n_labelled_events if self.key_metric == "event_f1" else (
            self.n_labelled_anomalous_rows)

    def interval(self, level: float = 0.95) -> tuple[float, float] | None:
        """The two-sided percentile interval of the difference at ``level``; None without
        replicates (no labels, or no event and no alarm)."""
        d = self.differences[np.isfinite(self.differences)]
        if d.size == 0:
            return None
        tail = (1.0 - level) / 2.0 * 100.0
        low, high = np.percentile(d, [tail, 100.0 - tail])
        return float(low), float(high)

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        ci = self.interval(level)
        return {
            "n_rows": self.n_rows,
            "n_labelled_rows": self.n_labelled_rows,
            "n_labelled_events": self.n_labelled_events,
            "n_labelled_anomalous_rows": self.n_labelled_anomalous_rows,
            "key_metric": self.key_metric,
            "champion": self.champion.to_dict(),
            "challenger": self.challenger.to_dict(),
            "agreement": self.agreement,
            "difference": self.difference,
            "interval": None if ci is None else {"level": level, "low": ci[0], "high": ci[1]},
            "bootstrap_replicates": int(np.isfinite(self.differences).sum()),
            "seed": self.seed,
        }


def _aligned(champion: Scored, challenger: Scored) -> tuple[np.ndarray, np.ndarray]:
    """Positions into each side of the rows both scored, in input order."""
    a, b = champion.frame.index, challenger.frame.index
    common, ia, ib = np.intersect1d(a, b, assume_unique=True, return_indices=True)
    if common.size == 0:
        raise DataError("the two bundles scored no row in common: nothing to compare")
    return ia, ib


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def _f1(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    """F1 of precision ``p`` and recall ``r``: undefined without anomalies (``r`` NaN), and 0
    for a side that flagged nothing while there were some (``p`` NaN, ``r`` 0): a detector
    gone quiet scores 0, it is not left out of the comparison."""
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0)
    return np.where(np.isnan(r), np.nan, np.where(np.isnan(p), 0.0, f))


def _metrics(c: np.ndarray, side: int) -> dict[str, np.ndarray]:
    """Metrics from summed counts ``c`` (``(..., columns)``) for one side (0 or 1)."""
    base = 1 + side * len(_SIDE)
    detected, runs, true_runs, tp, fp, fn = (c[..., base + i] for i in range(len(_SIDE)))
    out = {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "event_precision": _ratio(true_runs, runs),
        "event_recall": _ratio(detected, c[..., _EVENTS]),
    }
    out["f1"] = _f1(out["precision"], out["recall"])
    out["event_f1"] = _f1(out["event_precision"], out["event_recall"])
    return out


def _episode_counts(
    y: np.ndarray, flags: tuple[np.ndarray, np.ndarray], segment: np.ndarray
) -> np.ndarray:
    """One row of counts per episode (see the module docstring): ``(episodes, 13)``."""
    union = y | flags[0] | flags[1]
    ev_start, ev_end = segment_runs(y, segment)
    # an episode is cut before each labelled event in it: a flood over many events is as
    # many units as events, not one unit the bootstrap can only take or leave whole
    starts = np.union1d(segment_runs(union, segment)[0], ev_start)
    episode = np.searchsorted(starts, np.arange(y.size), side="right") - 1
    n = starts.size

    def per_episode(rows: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(episode[rows], weights=weights, minlength=n).astype(np.float64)

    cols = [per_episode(ev_start)]  # _EVENTS
    y_cum = np.concatenate(([0], np.cumsum(y)))
    for f in flags:
        f_cum = np.concatenate(([0], np.cumsum(f)))
        fl_start, fl_end = segment_runs(f, segment)
        cols += [
            per_episode(ev_start, (f_cum[ev_end] - f_cum[ev_start]) > 0),  # detected events
            per_episode(fl_start),  # alarms
            per_episode(fl_start, (y_cum[fl_end] - y_cum[fl_start]) > 0),  # true alarms
            per_episode(union, (f & y)[union]),
            per_episode(union, (f & ~y)[union]),
            per_episode(union, (~f & y)[union]),
        ]
    return np.column_stack(cols)


def _bootstrap(counts: np.ndarray, key: str, n_boot: int, seed: int) -> np.ndarray:
    """Replicates of the key metric's difference, episodes resampled with replacement."""
    n = counts.shape[0]
    if n == 0 or n_boot <= 0:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    step = max(1, 2_000_000 // n)  # bound the weight matrix to a few million cells
    for i in range(0, n_boot, step):
        m = min(step, n_boot - i)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=m).astype(np.float64)
        sums = weights @ counts
        out[i:i + m] = _metrics(sums, 1)[key] - _metrics(sums, 0)[key]
    return out


def _plain(value: np.ndarray) -> float | None:
    v = float(value)
    return None if np.isnan(v) else v


def compare(
    champion: Scored,
    challenger: Scored,
    *,
    labels: np.ndarray | None = None,
    key_metric: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Compare two detectors' flags on the rows both scored.

    :param champion: the champion's scored rows (``Scored.frame.index`` = input positions).
    :param challenger: the challenger's, from the same input.
    :param labels: per input row ``1``/``0``/``-1`` (unknown), indexed by input position;
        None: the input's label column where present, else no metric.
    :param key_metric: ``event_f1`` or ``f1``; None: ``event_f1`` for time series
        (timestamps or channels), ``f1`` for independent rows.
    :param n_boot: bootstrap replicates.
    :param seed: the bootstrap's seed (the same inputs and seed give the same figures).
    """
    ia, ib = _aligned(champion, challenger)
    frame = champion.frame.take(ia)
    series = frame.timestamps is not None or frame.channels is not None
    key = key_metric or ("event_f1" if series else "f1")
    if key not in KEY_METRICS:
        raise DataError(f"key metric {key!r}: expected one of {', '.join(KEY_METRICS)}")
    # each channel's rows together, oldest first, as the event metrics of a run count them
    order = frame.time_order()
    fa = np.asarray(champion.flags, dtype=bool)[ia][order]
    fb = np.asarray(challenger.flags, dtype=bool)[ib][order]
    n = fa.size
    if labels is not None:
        lab = np.asarray(labels)[frame.index[order]].astype(np.int8)
    elif frame.labels is not None:
        lab = frame.labels[order].astype(np.int8)
    else:
        lab = np.full(n, -1, dtype=np.int8)
    segment = None
    if frame.channels is not None:
        segment = np.unique(frame.channels[order], return_inverse=True)[1]
    agreement = _agreement(fa, fb, segment)

    covered = lab >= 0
    idx = np.flatnonzero(covered)
    # a labelled stretch ends at a gap in coverage or a change of channel; independent rows
    # are each their own unit
    if series:
        breaks = np.concatenate(([0], np.diff(idx) != 1)).astype(np.int64)
        if segment is not None:
            breaks |= np.concatenate(([0], np.diff(segment[idx]) != 0)).astype(np.int64)
        unit_segment = np.cumsum(breaks)
    else:
        unit_segment = np.arange(idx.size)
    y = lab[idx] == 1
    counts = _episode_counts(y, (fa[idx], fb[idx]), unit_segment)
    totals = counts.sum(axis=0)
    figures = []
    for side, f in enumerate((fa, fb)):
        metrics = {k: _plain(v) for k, v in _metrics(totals, side).items()} if idx.size else {}
        runs = segment_runs(f, segment)[0].size
        figures.append(SideFigures(n_flagged=int(f.sum()), alarm_rate=float(f.mean()) if n else 0.0,
                                   n_alarms=int(runs), metrics=metrics))
    difference = None
    if idx.size:
        a, b = figures[0].metrics.get(key), figures[1].metrics.get(key)
        difference = None if a is None or b is None else b - a
    return Comparison(
        n_rows=n,
        n_labelled_rows=int(idx.size),
        n_labelled_events=int(totals[_EVENTS]) if idx.size else 0,
        n_labelled_anomalous_rows=int(y.sum()),
        key_metric=key,
        champion=figures[0],
        challenger=figures[1],
        agreement=agreement,
        difference=difference,
        differences=_bootstrap(counts, key, n_boot, seed) if idx.size else np.zeros(0),
        seed=seed,
    )


def _agreement(fa: np.ndarray, fb: np.ndarray, segment: np.ndarray | None) -> dict[str, Any]:
    """Rows and alarms (flagged runs) raised by one detector and not the other."""
    cum = {side: np.concatenate(([0], np.cumsum(f))) for side, f in (("a", fa), ("b", fb))}

    def unmatched(f: np.ndarray, other: str) -> int:
        s, e = segment_runs(f, segment)
        return int(((cum[other][e] - cum[other][s]) == 0).sum())

    n = fa.size
    return {
        "rows_both": int((fa & fb).sum()),
        "rows_champion_only": int((fa & ~fb).sum()),
        "rows_challenger_only": int((~fa & fb).sum()),
        "row_agreement": float((fa == fb).mean()) if n else 1.0,
        "alarms_champion_only": unmatched(fa, "b"),
        "alarms_challenger_only": unmatched(fb, "a"),
    }
