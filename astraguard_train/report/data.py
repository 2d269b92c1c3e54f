"""What a report shows, assembled from a bundle's manifest and a scored test part.

Everything here is columnar numpy and knows nothing about HTML: :func:`assemble` turns an
:class:`~astraguard_train.bundle.evaluation.Evaluation` (one entry per scored row) into
per-channel timelines (decimated for drawing), ROC and precision-recall curves, the
confusion matrix at the applied thresholds, the event table (each labelled event found or
missed, with its detection delay) and the false alarms, beside the drift table, the
manifest's summary and, for sweeps, the leaderboard.

Rows are put in time order within each channel (channels sorted by name), as the event
metrics order them, so the event table and the run's event metrics count the same events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from ..bundle.data_map import DataMap
from ..bundle.evaluation import Evaluation
from ..timeseries.events import segment_runs
from .decimate import plot_rows
from .leaderboard import Leaderboard
from .map_view import MapView, map_view

#: Points per ROC / PR curve, at most (curves are drawn, not integrated, here).
CURVE_POINTS = 2000
#: Name of the one timeline of data without channels.
ALL_ROWS = "all rows"


@attrs.frozen(eq=False)
class Timeline:
    """One channel's (or the whole set's) series, ready to draw.

    ``x`` is milliseconds since the epoch with timestamps, else the row's position;
    ``alarms`` and ``events`` are ``(k, 2)`` spans ``[first x, last x + one step]`` taken from
    every row (never from the decimated series).
    """

    name: str
    x: np.ndarray
    scores: np.ndarray
    thresholds: np.ndarray
    alarms: np.ndarray
    events: np.ndarray
    n_rows: int


@attrs.frozen(eq=False)
class EventTable:
    """Labelled events (``found``, delays) or false alarms (no label inside), one entry each:
    the channel, first and last row's x, rows, and for events whether and how late found."""

    channel: np.ndarray
    start: np.ndarray
    end: np.ndarray
    rows: np.ndarray
    found: np.ndarray | None = None
    delay_rows: np.ndarray | None = None
    delay_seconds: np.ndarray | None = None
    #: per entry, the explanation of its highest-scoring explained alarm row ("" for none)
    why: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.channel.shape[0])


@attrs.frozen(eq=False)
class Curves:
    """ROC and precision-recall curves of the scores (thinned to :data:`CURVE_POINTS`)."""

    fpr: np.ndarray
    tpr: np.ndarray
    recall: np.ndarray
    precision: np.ndarray
    roc_auc: float
    pr_auc: float


@attrs.frozen(eq=False)
class ReportData:
    """Everything one report shows; see the module docstring."""

    title: str
    source: str
    time_axis: str  # "date" with timestamps, "row" without
    timelines: tuple[Timeline, ...]
    metrics: dict[str, Any]
    confusion: dict[str, int] | None
    curves: Curves | None
    events: EventTable | None
    false_alarms: EventTable | None
    drift: dict[str, Any] | None
    manifest: dict[str, Any]
    leaderboard: Leaderboard | None = None
    notes: tuple[str, ...] = ()
    n_rows: int = 0
    #: the map of the data (None: the bundle keeps none)
    data_map: MapView | None = None


def _time_order(ev: Evaluation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(order, codes, names)``: rows by channel then time, channel codes in that order."""
    n = ev.n_rows
    if ev.channels is None:
        names, codes = np.array([ALL_ROWS]), np.zeros(n, dtype=np.int64)
    else:
        names, codes = np.unique(ev.channels, return_inverse=True)
    if ev.timestamps is not None:
        order = np.lexsort((ev.timestamps, codes))
    else:
        order = np.argsort(codes, kind="stable")
    return order, codes[order], names


def _x_values(ev: Evaluation, order: np.ndarray) -> np.ndarray:
    if ev.timestamps is None:
        return np.arange(order.size, dtype=np.float64)
    ts = np.asarray(ev.timestamps, dtype="datetime64[ns]")[order]
    return ts.astype(np.int64) / 1e6  # NaT never reaches a scored row's timestamp


def _spans(x: np.ndarray, starts: np.ndarray, ends: np.ndarray, step: float) -> np.ndarray:
    if starts.size == 0:
        return np.zeros((0, 2))
    return np.column_stack([x[starts], x[ends - 1] + step])


def _step(x: np.ndarray) -> float:
    d = np.diff(x)
    d = d[d > 0]
    return float(np.median(d)) if d.size else 1.0


def _timelines(
    ev: Evaluation, order: np.ndarray, codes: np.ndarray, names: np.ndarray, x: np.ndarray
) -> tuple[Timeline, ...]:
    scores, thresholds = ev.scores[order], ev.thresholds[order]
    flags = ev.flags[order]
    labelled = (ev.labels[order] == 1) if ev.labels is not None else np.zeros_like(flags)
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(codes)) + 1, [codes.size]))
    out = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        cx = x[a:b] if ev.timestamps is not None else np.arange(b - a, dtype=np.float64)
        step = _step(cx)
        al_s, al_e = segment_runs(flags[a:b])
        ev_s, ev_e = segment_runs(labelled[a:b])
        keep = np.concatenate([al_s, al_e - 1, ev_s, ev_e - 1])
        rows = plot_rows(scores[a:b], thresholds[a:b], keep)
        out.append(
            Timeline(
                name=str(names[codes[a]]),
                x=cx[rows],
                scores=scores[a:b][rows],
                thresholds=thresholds[a:b][rows],
                alarms=_spans(cx, al_s, al_e, step),
                events=_spans(cx, ev_s, ev_e, step),
                n_rows=int(b - a),
            )
        )
    return tuple(out)


def _event_tables(
    ev: Evaluation, order: np.ndarray, codes: np.ndarray, names: np.ndarray, x: np.ndarray
) -> tuple[EventTable, EventTable]:
    assert ev.labels is not None
    labelled = ev.labels[order] == 1
    flags = ev.flags[order]
    ev_s, ev_e = segment_runs(labelled, codes)
    al_s, al_e = segment_runs(flags, codes)
    flag_cum = np.concatenate(([0], np.cumsum(flags)))
    label_cum = np.concatenate(([0], np.cumsum(labelled)))
    found = (flag_cum[ev_e] - flag_cum[ev_s]) > 0
    flagged_rows = np.flatnonzero(flags)
    first = np.full(ev_s.size, -1, dtype=np.int64)
    if flagged_rows.size:
        pos = np.minimum(np.searchsorted(flagged_rows, ev_s), flagged_rows.size - 1)
        first[found] = flagged_rows[pos[found]]
    delay_rows = np.where(found, first - ev_s, -1).astype(np.float64)
    delay_rows[~found] = np.nan
    delay_seconds = None
    if ev.timestamps is not None:
        delay_seconds = np.full(ev_s.size, np.nan)
        delay_seconds[found] = (x[first[found]] - x[ev_s[found]]) / 1e3
    why = None if ev.why is None else ev.why[order]
    peak = None if why is None else np.where(flags & (why != ""), ev.scores[order], -np.inf)
    events = EventTable(
        channel=names[codes[ev_s]], start=x[ev_s], end=x[ev_e - 1], rows=ev_e - ev_s,
        found=found, delay_rows=delay_rows, delay_seconds=delay_seconds,
        why=None if why is None else _peak_why(why, peak, ev_s, ev_e),
    )
    false = (label_cum[al_e] - label_cum[al_s]) == 0
    s, e = al_s[false], al_e[false]
    alarms = EventTable(channel=names[codes[s]], start=x[s], end=x[e - 1], rows=e - s,
                        why=None if why is None else _peak_why(why, peak, s, e))
    return events, alarms


def _peak_why(why: np.ndarray, peak: Any, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per span ``[start, end)``, the explanation of its highest-scoring explained row."""
    out = np.zeros(starts.size, dtype=why.dtype)
    for i, (lo, hi) in enumerate(zip(starts, ends, strict=True)):
        best = lo + int(np.argmax(peak[lo:hi]))
        if np.isfinite(peak[best]):
            out[i] = why[best]
    return out


def _thin(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    n = arrays[0].size
    if n <= CURVE_POINTS:
        return arrays
    pick = np.unique(np.linspace(0, n - 1, CURVE_POINTS).astype(np.int64))
    return tuple(a[pick] for a in arrays)


def _curves(labels: np.ndarray, scores: np.ndarray) -> Curves | None:
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    finite = np.isfinite(scores)
    y, s = labels[finite], scores[finite]
    if np.unique(y).size < 2:
        return None
    fpr, tpr, _ = roc_curve(y, s)
    precision, recall, _ = precision_recall_curve(y, s)
    roc_auc = float(auc(fpr, tpr))
    fpr, tpr = _thin(fpr, tpr)
    recall, precision = _thin(recall, precision)
    return Curves(fpr, tpr, recall, precision, roc_auc, float(average_precision_score(y, s)))


def _confusion(labels: np.ndarray, flags: np.ndarray) -> dict[str, int]:
    y = labels == 1
    return {
        "tp": int((y & flags).sum()), "fp": int((~y & flags).sum()),
        "tn": int((~y & ~flags).sum()), "fn": int((y & ~flags).sum()),
    }


def manifest_summary(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a manifest a reader looks at: config, plugins and versions, fingerprint."""
    keys = (
        "created", "astraguard_train_version", "python", "libraries", "persister", "config",
        "plugins", "group_by", "groups", "input_features", "training_data", "threshold",
        "threshold_info",
    )
    return {k: manifest[k] for k in keys if k in manifest}


def assemble(
    manifest: Mapping[str, Any],
    evaluation: Evaluation | None,
    *,
    metrics: Mapping[str, Any] | None = None,
    source: str = "",
    title: str | None = None,
    leaderboard: Leaderboard | None = None,
    notes: tuple[str, ...] = (),
    data_map: DataMap | None = None,
) -> ReportData:
    """Everything a report shows.

    :param manifest: the bundle's manifest (or one built in memory for an unsaved run).
    :param evaluation: the scored rows; None for a report of a leaderboard only.
    :param metrics: the figures to show (default: the manifest's, i.e. the run's).
    :param data_map: the map of the training rows and ``evaluation``'s rows, when there is one.
    """
    config = manifest.get("config", {})
    model = config.get("model", {}).get("name", "?")
    thr = config.get("threshold", {}).get("name", "?")
    title = title or f"{config.get('persist', {}).get('bundle_name', 'detector')}: {model} + {thr}"
    metrics = dict(manifest.get("metrics", {}) if metrics is None else metrics)
    common: dict[str, Any] = dict(
        title=title, source=source, metrics=metrics, manifest=manifest_summary(manifest),
        leaderboard=leaderboard, notes=notes,
    )
    if evaluation is None or evaluation.n_rows == 0:
        return ReportData(
            time_axis="row", timelines=(), confusion=None, curves=None, events=None,
            false_alarms=None, drift=None, **common,
        )
    ev = evaluation
    order, codes, names = _time_order(ev)
    x = _x_values(ev, order)
    events = false_alarms = None
    confusion = curves = None
    if ev.labels is not None:
        confusion = _confusion(ev.labels, ev.flags)
        curves = _curves(ev.labels, ev.scores)
        if ev.timestamps is not None:
            events, false_alarms = _event_tables(ev, order, codes, names, x)
    return ReportData(
        time_axis="date" if ev.timestamps is not None else "row",
        timelines=_timelines(ev, order, codes, names, x),
        confusion=confusion, curves=curves, events=events, false_alarms=false_alarms,
        drift=ev.drift, n_rows=ev.n_rows,
        data_map=None if data_map is None else map_view(data_map, ev), **common,
    )
