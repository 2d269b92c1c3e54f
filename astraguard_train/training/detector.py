"""The fitted detector: feature chain + scaler + model + threshold, reused everywhere.

``train`` builds a :class:`TrainedDetector`; ``evaluate``, ``persist``, ``score``, drift
checks and tuning all call it, so none of them re-implements the chain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import attrs
import numpy as np

from ..data.frame import Frame
from ..errors import DataError, NotFittedError
from ..features.scalers import fit_transform_named
from ..plugins import contracts
from ..plugins.contracts import ThresholdRule
from .scored import Scored
from .streaming import Scorer


def as_threshold(chosen: Any) -> float | ThresholdRule:
    """Return ``chosen`` as a float, or as is when it is a :class:`ThresholdRule`."""
    return chosen if contracts.is_rule(chosen) else float(chosen)


def threshold_value(threshold: float | ThresholdRule) -> float:
    """A single figure for a threshold: the float itself or the rule's ``value``."""
    if contracts.is_rule(threshold):
        return float(threshold.value)
    return float(cast(float, threshold))


#: In a pickled chain, in place of training scores that are the model's own.
_MODELS_OWN = "the model's train_scores_"


class Chain:
    """One fitted feature chain and detector: transforms, then scaler, then model."""

    def __init__(self, transforms: Sequence[Any], scaler: Any, model: Any) -> None:
        self.transforms = list(transforms)
        self.scaler = scaler
        self.model = model
        self.input_columns: tuple[str, ...] = ()
        self.output_columns: tuple[str, ...] = ()
        self.rows_dropped_: int = 0
        self._fitted = False

    def __getstate__(self) -> dict[str, Any]:
        # Training scores that are the model's own are pickled once, with the model: a
        # bundle's channel files are pickled without the memo that would otherwise share them.
        state = dict(self.__dict__)
        own = state.get("train_scores_")
        if own is not None and own is contracts.train_scores(self.model):
            state["train_scores_"] = _MODELS_OWN
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if isinstance(state.get("train_scores_"), str):  # _MODELS_OWN
            self.train_scores_ = contracts.train_scores(self.model)

    def fit(self, frame: Frame) -> Chain:
        """Fit every transform, the scaler and the model on ``frame`` (the training part)."""
        return self.fit_model(self.fit_features(frame))

    def fit_features(self, frame: Frame) -> Frame:
        """Fit the transforms and the scaler on ``frame``; return its features."""
        self.input_columns = frame.columns
        n_in = frame.n_rows
        for t in self.transforms:
            frame = t.fit(frame).transform(frame)
        if frame.n_rows == 0:
            raise DataError("no training rows left after the feature transforms")
        self.rows_dropped_ = n_in - frame.n_rows
        self.output_columns = frame.columns
        X = (
            fit_transform_named(self.scaler, frame.X, frame.columns)
            if self.scaler is not None
            else frame.X
        )
        self._fitted = True
        return frame.with_features(np.asarray(X, dtype=np.float64), frame.columns)

    def fit_model(self, features: Frame, train_scores: bool = True) -> Chain:
        """Fit the model on features from :meth:`fit_features`; keep its training scores.

        Detectors that keep their own training scores
        (:class:`~astraguard_train.plugins.contracts.KeepsTrainScores`) are not asked to score
        their training set a second time; a
        :class:`~astraguard_train.plugins.contracts.FrameDetector` is fitted on the frame.

        :param train_scores: False skips scoring the training rows when the detector does not
            keep its own scores (``train_scores_`` is then None): a threshold strategy that
            only looks at the validation part (``needs_train_scores = False``) does not pay
            for it; scoring 100k rows with a forest costs more than fitting it.
        """
        contracts.fit_detector(self.model, features)
        own = contracts.train_scores(self.model)
        if own is None and train_scores:
            own = self.score_features(features)
        self.train_scores_ = own
        return self

    def features(self, frame: Frame) -> Frame:
        """Apply the fitted transforms and scaler; the result's ``index`` says which rows remain."""
        frame = self.check_input(frame)
        for t in self.transforms:
            frame = t.transform(frame)
        return self.scale(frame)

    def check_input(self, frame: Frame) -> Frame:
        """``frame`` with the chain's input columns, in order.

        :raises NotFittedError: before :meth:`fit`.
        :raises DataError: naming the missing columns.
        """
        if not getattr(self, "_fitted", False):
            raise NotFittedError("this chain is not fitted yet; call fit first")
        missing = [c for c in self.input_columns if c not in frame.columns]
        if missing:
            raise DataError(
                f"input is missing feature column(s) {', '.join(missing)}; "
                f"the detector was trained on: {', '.join(self.input_columns)}"
            )
        return frame if frame.columns == self.input_columns else frame.select(self.input_columns)

    def scale(self, frame: Frame) -> Frame:
        """The transformed ``frame`` through the fitted scaler: the model's features."""
        X = self.scaler.transform(frame.X) if self.scaler is not None else frame.X
        return frame.with_features(np.asarray(X, dtype=np.float64), self.output_columns)

    def score(self, frame: Frame) -> tuple[Frame, np.ndarray]:
        """Return the scored rows and their scores (higher = more anomalous)."""
        feats = self.features(frame)
        return feats, self.score_features(feats)

    def score_features(self, feats: Frame) -> np.ndarray:
        """Score transformed features; NaN scores are an error, infinite ones are clipped.

        An infinite score (a detector dividing by a zero training variance) still ranks the row
        first, but would break every metric and threshold, so it becomes the largest float.
        """
        scores = np.asarray(contracts.score_detector(self.model, feats), dtype=np.float64)
        return self.check_scores(scores, feats)

    def check_scores(self, scores: np.ndarray, feats: Frame) -> np.ndarray:
        """``scores`` with infinite ones clipped; NaN scores are an error naming the row."""
        if not np.isfinite(scores).all():
            nan = np.isnan(scores)
            if nan.any():
                first = int(feats.index[np.argmax(nan)]) + 1
                raise DataError(
                    f"model {type(self.model).__name__} returned NaN scores for "
                    f"{int(nan.sum())} rows (first: row {first})"
                )
            big = np.finfo(np.float64).max
            scores = np.clip(scores, -big, big)
        return scores


@attrs.define(eq=False)
class TrainedDetector:
    """Everything needed to score new data exactly as in training.

    :param chains: fitted chains by group value; the key ``None`` is the global chain (or the
        fallback when ``group_by`` is set).
    :param group_by: the grouping key (``"channel"`` or any column) or None.
    :param thresholds: the decision threshold per chain key: a float, or a
        :class:`ThresholdRule` giving each row its own threshold.
    :param threshold_info: how the threshold was chosen (strategy, parameters, figures).
    :param postprocess: callable turning raw flags into alarms (min length, merge gap), or None.
    :param failed_groups: groups left out because their fit failed (``[train]
        on_group_failure = "skip"``), each with its error.
    """

    chains: dict[Any, Chain]
    group_by: str | None = None
    thresholds: dict[Any, float | ThresholdRule] = attrs.field(factory=dict)
    threshold_info: dict[str, Any] = attrs.field(factory=dict)
    postprocess: Callable[[np.ndarray, Frame], np.ndarray] | None = None
    plugins: dict[str, Any] = attrs.field(factory=dict)
    failed_groups: dict[str, str] = attrs.field(factory=dict)

    @property
    def input_columns(self) -> tuple[str, ...]:
        # a bundle's lazily read chains know them without reading a chain
        known = getattr(self.chains, "input_columns", None)
        return tuple(known) if known is not None else next(iter(self.chains.values())).input_columns

    @property
    def output_columns(self) -> tuple[str, ...]:
        known = getattr(self.chains, "output_columns", None)
        return tuple(known) if known is not None else next(
            iter(self.chains.values())).output_columns

    @property
    def threshold(self) -> float:
        """The single threshold, or the median of the per-group ones (for summaries)."""
        values = [threshold_value(t) for t in self.thresholds.values()]
        return float(values[0]) if len(values) == 1 else float(np.median(values))

    def _keys(self, frame: Frame) -> Mapping[Any, np.ndarray]:
        if self.group_by is None:
            return {None: np.arange(frame.n_rows)}
        groups = frame.groups(self.group_by)
        unseen = [g for g in groups if g not in self.chains]
        if unseen and None not in self.chains:
            # an object unpickled from a bundle older than the field has no such attribute
            failed = getattr(self, "failed_groups", {})
            left_out = [str(g) for g in unseen if str(g) in failed]
            why = f" ({', '.join(left_out)} left out: their fit failed in training)" if (
                left_out) else ""
            raise DataError(
                f"{self.group_by} value(s) {', '.join(map(str, unseen))} were not seen in "
                f"training{why} and no fallback model is configured ([train] fallback = true)"
            )
        return groups

    def stream(self, fingerprint: str | None = None) -> Scorer:
        """A :class:`~astraguard_train.training.streaming.Scorer` for one stream of rows."""
        return Scorer(self, fingerprint)

    def score_frame(self, frame: Frame) -> Scored:
        """Score ``frame`` as one whole stream: scores, thresholds and post-processed flags
        for the scored rows (equal, bit for bit, to scoring it in chunks with
        :meth:`stream`)."""
        return self.stream().score_all(frame)
