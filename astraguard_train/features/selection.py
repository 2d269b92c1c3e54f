"""Automated feature selection, fitted on the training part only: ``drop_redundant``,
``select_relevant`` (unsupervised) and ``select_labelled`` (supervised, when labels exist).

Each learns which columns to keep in ``fit`` and is row-wise afterwards (lookback 0). Each
says what it dropped and why in ``selection_`` (:class:`~astraguard_train.plugins.contracts.
ReportsSelection`): ``{"kept": [...], "dropped": {feature: reason}, "note": text or None}``,
which the run's ``features`` summary and the bundle's manifest carry (``feature_selection``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..data.frame import Frame
from ..errors import DataError
from .base import FrameTransform
from .scalers import near_zero, safe_scale


class _Selector(FrameTransform):
    """Shared: candidate columns, the keep/drop bookkeeping, the row-wise transform."""

    def _decide(self, frame: Frame, dropped: Mapping[str, str], note: str | None = None) -> None:
        self.columns_ = tuple(c for c in frame.columns if c not in dropped)
        if not self.columns_:
            raise DataError(f"transform '{self.name}': every feature would be dropped: "
                            + "; ".join(f"{c}: {why}" for c, why in dropped.items()))
        self.selection_ = {"kept": list(self.columns_), "dropped": dict(dropped), "note": note}

    def _transform(self, frame: Frame) -> Frame:
        return frame.select(self.columns_)

    def _count(self, keep: Any, n: int) -> int:
        """``keep`` as a number of columns: a count (``3``) or a share (``0.5``) of ``n``."""
        if isinstance(keep, bool) or not isinstance(keep, (int, float)) or keep <= 0 or (
                isinstance(keep, float) and keep > 1):
            raise self._error("keep", f"a count of features (>= 1) or a share in (0, 1], got "
                                      f"{keep!r}")
        return min(n, int(keep)) if isinstance(keep, int) else max(1, round(keep * n))


class DropRedundant(_Selector):
    """Drop constant features and near-duplicates: a feature whose absolute correlation with
    an earlier kept feature (in column order) is above ``correlation``."""

    name = "drop_redundant"

    def __init__(self, correlation: float = 0.98, columns: Sequence[str] | None = None) -> None:
        self.correlation = correlation
        self.columns = columns

    def _fit(self, frame: Frame) -> None:
        if isinstance(self.correlation, bool) or not isinstance(self.correlation, (int, float)) \
                or not 0 < self.correlation <= 1:
            raise self._error("correlation", f"must be in (0, 1], got {self.correlation!r}")
        names = self._resolve_columns(frame, self.columns)
        X = frame.select(names).X
        std = X.std(axis=0)
        flat = near_zero(std, X.mean(axis=0))
        dropped = {c: f"constant in training (std {s:.3g})"
                   for c, s, f in zip(names, std, flat, strict=True) if f}
        live = [j for j in range(len(names)) if not flat[j]]
        if len(live) > 1:
            corr = np.abs(np.corrcoef(X[:, live], rowvar=False))
            kept: list[int] = []
            for i, j in enumerate(live):
                twin = next((k for k in kept if corr[i, live.index(k)] > self.correlation),
                            None)
                if twin is None:
                    kept.append(j)
                else:
                    dropped[names[j]] = (f"near-duplicate of {names[twin]} (|correlation| "
                                         f"{corr[i, live.index(twin)]:.4f} > "
                                         f"{self.correlation})")
        self._decide(frame, dropped)


def _relevance_order(relevance: np.ndarray, names: Sequence[str], n_keep: int,
                     what: str) -> dict[str, str]:
    order = np.argsort(-relevance, kind="stable")
    cut = relevance[order[n_keep - 1]]
    return {names[j]: f"{what} {relevance[j]:.4g}, rank {rank + 1} of {len(names)}; the "
                      f"{n_keep} kept reach {cut:.4g}"
            for rank, j in enumerate(order) if rank >= n_keep}


class SelectRelevant(_Selector):
    """Unsupervised relevance: keep the ``keep`` features (a count, or a share) whose removal
    most changes a detector's scores on a validation part of the training rows.

    The training rows are cut in two (the last ``validation_share`` of them validate); a
    detector (``model``, a ``[model]`` table, default a 100-tree Isolation Forest) is fitted
    on the first part, standardised with its statistics, and each feature is "removed" by
    putting it to its median; its relevance is the mean absolute change of the validation
    scores, as a share of the scores' standard deviation.
    """

    name = "select_relevant"

    def __init__(self, keep: float = 0.5, validation_share: float = 0.3,
                 model: Mapping[str, Any] | None = None,
                 columns: Sequence[str] | None = None) -> None:
        self.keep = keep
        self.validation_share = validation_share
        self.model = model
        self.columns = columns

    def _fit(self, frame: Frame) -> None:
        from ..models.ensemble import member_registry

        share = self.validation_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
            raise self._error("validation_share", f"must be in (0, 1), got {share!r}")
        names = self._resolve_columns(frame, self.columns)
        n_keep = self._count(self.keep, len(names))
        X = frame.select(names).X
        order = frame.time_order() if frame.timestamps is not None else np.arange(frame.n_rows)
        cut = int(round(X.shape[0] * (1 - share)))
        if cut < 10 or X.shape[0] - cut < 10:
            raise DataError(f"transform '{self.name}': {X.shape[0]} training rows; it needs "
                            f"at least 10 to fit and 10 to validate")
        fit_rows, val_rows = X[order[:cut]], X[order[cut:]]
        mean, std = fit_rows.mean(axis=0), fit_rows.std(axis=0)
        scale = safe_scale(std, mean)
        spec = dict(self.model or {"name": "iforest", "random_state": 0})
        name = spec.pop("name", "iforest")
        detector = member_registry().create("model", name, spec,
                                            where=f"transform '{self.name}': model")
        detector.fit((fit_rows - mean) / scale)
        Z = (val_rows - mean) / scale
        base = np.asarray(detector.score_samples(Z))
        median = np.median((fit_rows - mean) / scale, axis=0)
        d, m = Z.shape[1], Z.shape[0]
        stack = np.repeat(Z[None], d, axis=0)
        stack[np.arange(d), :, np.arange(d)] = median[:, None]
        again = np.asarray(detector.score_samples(stack.reshape(d * m, d))).reshape(d, m)
        spread = float(base.std()) or 1.0
        self.relevance_ = dict(zip(names, (np.abs(again - base).mean(axis=1) / spread).tolist(),
                                   strict=True))
        dropped = _relevance_order(np.array(list(self.relevance_.values())), names, n_keep,
                                   "removing it moved validation scores by (score sd)")
        self._decide(frame, dropped)


class SelectLabelled(_Selector):
    """Supervised relevance, when the training part has labels: keep the ``keep`` features
    (a count, or a share) that best separate labelled anomalies from normal rows, by ROC AUC
    of the feature's distance from its training median (|AUC - 0.5|, either direction).
    Without labels, or without both classes, it keeps every feature and says so."""

    name = "select_labelled"

    def __init__(self, keep: float = 0.5, columns: Sequence[str] | None = None) -> None:
        self.keep = keep
        self.columns = columns

    def _fit(self, frame: Frame) -> None:
        from sklearn.metrics import roc_auc_score

        names = self._resolve_columns(frame, self.columns)
        n_keep = self._count(self.keep, len(names))
        y = frame.binary_labels()  # a row not judged counts as normal
        if y is None or np.unique(y).size < 2:
            self.relevance_ = {}
            self._decide(frame, {}, note="no labelled anomalies and normal rows in the "
                                         "training part: every feature kept")
            return
        X = frame.select(names).X
        distance = np.abs(X - np.median(X, axis=0))
        auc = np.array([roc_auc_score(y, distance[:, j]) for j in range(len(names))])
        separation = np.abs(auc - 0.5)
        self.relevance_ = dict(zip(names, auc.tolist(), strict=True))
        dropped = _relevance_order(separation, names, n_keep, "|ROC AUC - 0.5|")
        self._decide(frame, dropped)


def selection_reports(chains: Mapping[Any, Any], configured: Sequence[Any]) -> list[dict]:
    """What each selecting transform of each chain dropped and why, for summaries and the
    manifest: one entry per (transform, chain) with ``transform`` (``transforms.<i>``),
    ``name``, ``group`` (the chain key as text; None for the global chain) and its report."""
    from ..plugins.contracts import selection_report

    out = []
    for key, chain in chains.items():
        offset = len(chain.transforms) - len(configured)  # a median imputer may come first
        for i, step in enumerate(chain.transforms[offset:]):
            report = selection_report(step)
            if report is not None:
                out.append({"transform": f"transforms.{i}", "name": configured[i].name,
                            "group": None if key is None else str(key), **report})
    return out
