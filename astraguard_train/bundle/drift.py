"""Drift checks: compare new data with the training profile kept in a bundle.

Per input feature, two measures:

- **Population stability index (PSI)** over the training decile bins stored in the profile:
  ``sum((new - train) * ln(new / train))`` over the bins' shares, each share floored at
  ``1e-4`` so empty bins stay finite. Rules of thumb: below 0.1 stable, 0.1 to 0.2 a moderate
  shift, 0.2 and above a significant shift.
- **Two-sample Kolmogorov-Smirnov test** between the training sample kept in the bundle and a
  uniform sample (up to ``sample_rows`` rows) of the new data.

A feature is reported as drifted when ``psi >= psi_threshold`` (default 0.2), or when the KS
test is significant (``p < ks_alpha``, default 0.01) *and* its statistic is at least
``ks_min_statistic`` (default 0.1): with many rows, tiny harmless shifts are "significant",
so the effect size must matter too. A rise of the missing share by more than
``missing_threshold`` (default 0.05) also counts as drift.

New data is read chunk by chunk: bin counts and missing counts are exact over every row; only
the KS test uses a sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import numpy as np

from ..data.frame import Frame
from ..errors import DataError
from .profile import bin_counts, bin_shares

PSI_FLOOR = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = PSI_FLOOR) -> float:
    """Return the population stability index between two arrays of bin shares."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), floor)
    a = np.maximum(np.asarray(actual, dtype=np.float64), floor)
    return float(np.sum((a - e) * np.log(a / e)))


@attrs.frozen
class DriftThresholds:
    """When a feature counts as drifted (see the module docstring)."""

    psi_threshold: float = 0.2
    ks_alpha: float = 0.01
    ks_min_statistic: float = 0.1
    missing_threshold: float = 0.05


@attrs.frozen
class FeatureDrift:
    """One feature's drift figures and whether (and why) it drifted."""

    name: str
    psi: float | None
    ks_statistic: float | None
    ks_pvalue: float | None
    train_missing_share: float
    new_missing_share: float
    train_mean: float | None
    new_mean: float | None
    reasons: tuple[str, ...] = ()

    @property
    def drifted(self) -> bool:
        return bool(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "reasons": list(self.reasons), "drifted": self.drifted}


@attrs.frozen
class DriftReport:
    """Drift of every input feature of a bundle on some new data."""

    features: tuple[FeatureDrift, ...]
    rows: int
    sample_rows: int
    thresholds: DriftThresholds

    @property
    def drifted(self) -> list[str]:
        """Names of the features that drifted, in input order."""
        return [f.name for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "sample_rows": self.sample_rows,
            "drifted": self.drifted,
            "thresholds": attrs.asdict(self.thresholds),
            "features": [f.to_dict() for f in self.features],
        }


class _Accumulator:
    """Exact bin and missing counts over all chunks, plus a uniform row sample for KS."""

    def __init__(self, profile: Mapping[str, Any], columns: tuple[str, ...], sample_rows: int,
                 seed: int) -> None:
        self.columns = columns
        self.edges = [np.asarray(profile[c]["bin_edges"], dtype=np.float64) for c in columns]
        self.counts = [np.zeros(e.size + 1, dtype=np.int64) for e in self.edges]
        self.missing = np.zeros(len(columns), dtype=np.int64)
        self.sums = np.zeros(len(columns))
        self.rows = 0
        self.sample_rows = sample_rows
        self.rng = np.random.default_rng(seed)
        self.sample = np.empty((0, len(columns)))
        self.keys = np.empty(0)

    def add(self, X: np.ndarray) -> None:
        self.rows += X.shape[0]
        # each feature's values contiguous (one copy): every pass over a column runs on
        # unit-stride memory; a finite sum means no NaN or inf, so no mask is needed
        by_feature = np.array(X.T, order="C")
        with np.errstate(over="ignore", invalid="ignore"):
            clean = bool(np.isfinite(by_feature.sum()))
        for j, edges in enumerate(self.edges):
            col = by_feature[j]
            if not clean:
                col = col[np.isfinite(col)]
                self.missing[j] += X.shape[0] - col.size
            self.sums[j] += col.sum()
            self.counts[j] += bin_counts(col, edges)
        # Reservoir by random keys: keeping the rows with the smallest keys seen so far is a
        # uniform sample of every row read, whatever the chunk sizes. Only the kept rows are
        # copied, from the sample so far or from this chunk.
        seen = self.keys.size
        keys = np.concatenate([self.keys, self.rng.random(X.shape[0])])
        keep = (np.argpartition(keys, self.sample_rows)[: self.sample_rows]
                if keys.size > self.sample_rows else np.arange(keys.size))
        rows = np.empty((keep.size, X.shape[1]))
        old = keep < seen
        rows[old] = self.sample[keep[old]]
        rows[~old] = X[keep[~old] - seen]
        self.keys, self.sample = keys[keep], rows


def _frame_matrix(frame: Frame, columns: tuple[str, ...]) -> np.ndarray:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        extra = [c for c in frame.columns if c not in columns]
        raise DataError(
            f"input{' ' + frame.source if frame.source else ''} is missing feature column(s) "
            f"{', '.join(missing)} the bundle was trained on; columns present but unknown to "
            f"the bundle: {', '.join(extra) or 'none'}"
        )
    return frame.select(columns).X if frame.columns != columns else frame.X


def check_drift(
    profile: Mapping[str, Any],
    train_sample: np.ndarray | None,
    chunks: Iterable[Frame],
    *,
    thresholds: DriftThresholds | None = None,
    sample_rows: int = 100_000,
    seed: int = 0,
) -> DriftReport:
    """Compare new data, given as frames (one or many chunks), with a training profile.

    :param profile: the manifest's ``profile`` (feature name -> profile), in input order.
    :param train_sample: training rows kept in the bundle (columns in profile order), or None
        to skip the KS test.
    :returns: a :class:`DriftReport`.
    :raises DataError: when the new data lacks a profiled feature, or has no rows.
    """
    from scipy.stats import ks_2samp

    thresholds = thresholds or DriftThresholds()
    columns = tuple(profile)
    acc = _Accumulator(profile, columns, sample_rows, seed)
    for chunk in chunks:
        acc.add(_frame_matrix(chunk, columns))
    if acc.rows == 0:
        raise DataError("no rows to check for drift")
    out = []
    for j, name in enumerate(columns):
        prof = profile[name]
        n_finite = acc.rows - int(acc.missing[j])
        new_missing = float(acc.missing[j] / acc.rows)
        reasons = []
        value_psi = stat = pvalue = None
        if prof.get("bin_shares") and n_finite:
            value_psi = psi(np.asarray(prof["bin_shares"]), acc.counts[j] / n_finite)
            if value_psi >= thresholds.psi_threshold:
                reasons.append(f"psi {value_psi:.3f} >= {thresholds.psi_threshold}")
        if train_sample is not None and n_finite:
            ref = train_sample[:, j][np.isfinite(train_sample[:, j])]
            new = acc.sample[:, j][np.isfinite(acc.sample[:, j])]
            if ref.size and new.size:
                res = ks_2samp(ref, new)
                stat, pvalue = float(res.statistic), float(res.pvalue)
                if pvalue < thresholds.ks_alpha and stat >= thresholds.ks_min_statistic:
                    reasons.append(f"ks statistic {stat:.3f} (p={pvalue:.2g})")
        if new_missing - prof["missing_share"] > thresholds.missing_threshold:
            reasons.append(
                f"missing share {new_missing:.3f} vs {prof['missing_share']:.3f} in training"
            )
        out.append(
            FeatureDrift(
                name=name,
                psi=value_psi,
                ks_statistic=stat,
                ks_pvalue=pvalue,
                train_missing_share=float(prof["missing_share"]),
                new_missing_share=new_missing,
                train_mean=prof.get("mean"),
                new_mean=float(acc.sums[j] / n_finite) if n_finite else None,
                reasons=tuple(reasons),
            )
        )
    return DriftReport(tuple(out), acc.rows, int(acc.sample.shape[0]), thresholds)


__all__ = ["DriftReport", "DriftThresholds", "FeatureDrift", "bin_shares", "check_drift", "psi"]
