"""Forecast-residual detection for channel telemetry.

:class:`ForecastDetector` predicts a channel's value at row ``t`` from its previous ``window``
values (and, optionally, exogenous columns such as command flags at ``t`` and their counts
over the window) with a scikit-learn regressor. The anomaly score is the absolute prediction
error smoothed by an exponentially weighted moving average (EWMA), as in telemanom (Hundman
et al., KDD 2018) with a regressor in place of the LSTM.

Causality: a row's score uses only that row and earlier rows of the same channel, so appending
rows never changes the scores of the rows before them. A channel's first
``window + horizon - 1`` rows have no full window of history; they are scored with the missing
past padded by the channel's first value (``warmup = "pad"``), and counted
(:meth:`ForecastDetector.partial_window_rows`). They are left out of the regressor's training
rows whenever the channel has enough full-window rows.

History: :meth:`ForecastDetector.lookback` declares the rows a chunk needs before it (the lags
and the exogenous sums, then the rows after which the EWMA has forgotten the padded start), so
that a stream scored in chunks with that history prepended scores as a whole.
"""

from __future__ import annotations

import copy
import fnmatch
import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.utils.validation import check_is_fitted

from ..data.frame import Frame
from ..errors import ConfigError, DataError
from ..features.temporal import ewma_memory
from ..plugins.contracts import History, Regressor, State
from .carry import segments
from .moments import Moments

#: Regressors known by a short name; any other regressor is given by import path.
REGRESSORS: dict[str, str] = {
    "ridge": "sklearn.linear_model:Ridge",
    "linear": "sklearn.linear_model:LinearRegression",
    "lasso": "sklearn.linear_model:Lasso",
    "elastic_net": "sklearn.linear_model:ElasticNet",
    "huber": "sklearn.linear_model:HuberRegressor",
    "hist_gradient_boosting": "sklearn.ensemble:HistGradientBoostingRegressor",
    "random_forest": "sklearn.ensemble:RandomForestRegressor",
    "extra_trees": "sklearn.ensemble:ExtraTreesRegressor",
    "knn": "sklearn.neighbors:KNeighborsRegressor",
    "mlp": "sklearn.neural_network:MLPRegressor",
}

WARMUP_POLICIES = ("pad",)
#: Rows per regressor call when scoring (see :meth:`ForecastDetector._predict`).
PREDICT_BLOCK = 1024


def resolve_regressor(name: str, params: dict[str, Any] | None = None) -> Any:
    """Return an unfitted regressor for a short name (:data:`REGRESSORS`) or an import path
    (``"package.module:Class"`` or ``"package.module.Class"``) built with ``params``.

    :raises ConfigError: naming ``model.regressor`` when the name cannot be imported, is not a
        regressor (no ``fit``/``predict``), or rejects ``params``.
    """
    path = REGRESSORS.get(name, name)
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(
            f"model.regressor: unknown regressor '{name}'; use one of "
            f"{', '.join(REGRESSORS)} or an import path such as 'sklearn.svm:SVR'"
        )
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"model.regressor: cannot import '{path}': {exc}") from None
    try:
        regressor = factory(**(params or {}))
    except TypeError as exc:
        raise ConfigError(f"model.regressor_params: rejected by {path}: {exc}") from None
    if not isinstance(regressor, Regressor):
        raise ConfigError(f"model.regressor: '{path}' is not a regressor (needs fit and predict)")
    return regressor


def ewma(
    values: np.ndarray, span: float, state: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Causal EWMA with ``alpha = 2 / (span + 1)``, started at the first value.

    :param state: the filter state after the values before these (None: start a stream).
    :returns: the smoothed values (``values`` unchanged for ``span <= 1``) and the filter
        state to continue with; continuing gives the same bits as one call.
    """
    x = np.asarray(values, dtype=np.float64)
    if span <= 1 or x.size == 0:
        return x.copy(), state
    # scipy.signal is imported here: every registry build imports this module, and only the
    # forecasting detectors filter
    from scipy.signal import lfilter

    alpha = 2.0 / (span + 1.0)
    zi = np.array([(1.0 - alpha) * x[0]]) if state is None else state
    return lfilter([alpha], [1.0, alpha - 1.0], x, zi=zi)


def lagged(series: np.ndarray, window: int) -> np.ndarray:
    """Return the ``(n, window)`` matrix whose row ``t`` holds ``series[t-window:t]``, with
    the missing past before the first value padded by that first value."""
    x = np.asarray(series, dtype=np.float64)
    padded = np.concatenate((np.full(window, x[0]), x))
    return sliding_window_view(padded, window)[: x.size]


def trailing_sums(
    values: np.ndarray, window: int, history: np.ndarray | None = None
) -> np.ndarray:
    """Per row ``t`` and column, the sum of ``values[t-window+1 : t+1]`` (fewer rows at the
    start), with ``history`` (earlier rows) before ``values``. Returns an array shaped like
    ``values``.

    Each sum is taken over its own window (not as a difference of running totals), so its
    rounding does not depend on where the rows start: a chunk sums as the whole stream.
    """
    x = np.asarray(values, dtype=np.float64)
    past = np.zeros((0, x.shape[1])) if history is None else history
    past = past[max(0, len(past) - window + 1) :]
    full = np.concatenate([np.zeros((window - 1 - past.shape[0], x.shape[1])), past, x])
    return sliding_window_view(full, window, axis=0).sum(axis=-1)


class ForecastDetector(OutlierMixin, BaseEstimator):
    """Forecast each channel's next value; score = EWMA of the absolute prediction error.

    :param window: how many past values of the target predict the next one.
    :param horizon: how far ahead the prediction is made: row ``t`` is predicted from the
        ``window`` values ending at ``t - horizon``. A one-step forecaster mostly learns
        "the value stays where it is" and misses a channel that settles at an unusual level;
        a longer horizon makes it predict the channel's normal dynamics instead.
    :param target: the feature column to forecast (default: the first feature column).
    :param exogenous: other feature columns used as inputs at row ``t`` (names or shell-style
        patterns such as ``"f*"``; the target is never among them). Each adds its value at
        ``t`` and its sum over the last ``window`` rows.
    :param regressor: a name from :data:`REGRESSORS` (``ridge`` default,
        ``hist_gradient_boosting``, ...) or an import path ``"package.module:Class"``.
    :param regressor_params: keyword arguments for the regressor.
    :param smoothing: EWMA span of the absolute error (1 = no smoothing).
    :param warmup: treatment of rows without a full window: ``"pad"`` (scored with the missing
        past padded by the channel's first value; counted).
    """

    def __init__(
        self,
        window: int = 30,
        horizon: int = 1,
        target: str | None = None,
        exogenous: Sequence[str] = (),
        regressor: str = "ridge",
        regressor_params: dict[str, Any] | None = None,
        smoothing: float = 30,
        warmup: str = "pad",
    ) -> None:
        self.window = window
        self.horizon = horizon
        self.target = target
        self.exogenous = exogenous
        self.regressor = regressor
        self.regressor_params = regressor_params
        self.smoothing = smoothing
        self.warmup = warmup

    # -- the scikit-learn contract without time: one channel, rows in order ---------------
    def fit(self, X: np.ndarray, y: object = None) -> ForecastDetector:
        """Fit on a feature matrix whose rows are one channel in time order; returns self."""
        return self.fit_frame(_as_frame(X))

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Scores for a matrix whose rows are one channel in time order."""
        check_is_fitted(self, "regressor_")
        return self.score_frame(_as_frame(X, self.columns_))

    # -- the frame contract (Chain calls these) ---------------------------------------------
    def fit_frame(self, frame: Frame) -> ForecastDetector:
        """Fit the regressor on every channel of ``frame``; returns self.

        Sets ``target_``, ``exogenous_``, ``columns_``, ``regressor_``, ``train_scores_``
        (the smoothed errors on ``frame``, in its row order) and ``n_partial_window_``.

        :raises ConfigError: for invalid parameters (naming ``model.<param>``).
        :raises DataError: when ``frame`` has no rows.
        """
        self._check_params()
        if frame.n_rows == 0:
            raise DataError("forecast: no training rows")
        self.columns_ = frame.columns
        self.target_ = self.target or frame.columns[0]
        frame.column_index(self.target_)  # raises DataError naming the columns
        self.exogenous_ = match_columns(self.exogenous, frame.columns, self.target_)
        X, y, full = self._design(frame)
        rows = full if full.sum() >= max(2 * self._span, 10) else slice(None)
        self.regressor_ = clone(resolve_regressor(self.regressor, self.regressor_params))
        self.regressor_.fit(X[rows], y[rows])
        if _ridge_terms(self.regressor_) is not None:
            self.moments_ = {"full": Moments.of(X, y, full), "partial": Moments.of(X, y, ~full)}
            self.tail_ = self._tails(frame, {})
        self.train_scores_ = self.score_frame(frame)
        self.n_partial_window_ = self.partial_window_rows(frame)
        return self

    # -- incremental updates (IncrementalDetector) --------------------------------------------
    def partial_fit_blocker(self) -> str | None:
        """Why this fitted forecaster cannot absorb rows, or None when it can: only a ridge
        regressor keeps the sufficient statistics an update needs."""
        check_is_fitted(self, "regressor_")
        if _ridge_terms(self.regressor_) is None:
            return (
                f"regressor '{self.regressor}' keeps no sufficient statistics (only 'ridge', "
                "with the default solver and positive = false, updates incrementally)"
            )
        if not hasattr(self, "moments_"):
            return "fitted by a version that kept no sufficient statistics"
        return None

    def partial_fit_frame(
        self, frame: Frame, exclude: np.ndarray | None = None
    ) -> ForecastDetector:
        """Absorb ``frame``'s rows as more training rows, each channel continuing its
        training stream (its last values were kept at fit); returns self.

        The regressor is solved from the merged sufficient statistics, so it equals a fit on
        the training rows followed by these (to rounding). Rows in ``exclude`` (and rows
        whose lags reach one) pass through the stream but teach nothing. Sets
        ``train_scores_`` to the scores of ``frame``'s rows as the continuation of the
        training streams, under the updated regressor.

        :raises ConfigError: when :meth:`partial_fit_blocker` gives a reason.
        """
        reason = self.partial_fit_blocker()
        if reason is not None:
            raise ConfigError(f"model: forecast cannot update incrementally: {reason}")
        learn = np.ones(frame.n_rows, dtype=bool) if exclude is None else ~np.asarray(exclude)
        target = frame.column(self.target_)
        exo_idx = [frame.column_index(c) for c in self.exogenous_]
        full_m, part_m = self.moments_["full"], self.moments_["partial"]
        for key, rows in segments(frame):
            past = self.tail_.get(key) or {"seen": 0, "y": target[:0], "exo": None}
            y = target[rows]
            exo = frame.X[rows][:, exo_idx] if exo_idx else None
            X = self._inputs(y, exo, past["y"], past["exo"])
            ok = _untainted(learn[rows], self._span)
            full = past["seen"] + np.arange(rows.size) >= self._span
            full_m = full_m.merge(Moments.of(X, y, ok & full))
            part_m = part_m.merge(Moments.of(X, y, ok & ~full))
        enough = full_m.n >= max(2 * self._span, 10)  # as fit_frame chooses its rows
        alpha, fit_intercept = _ridge_terms(self.regressor_) or (0.0, True)
        coef, intercept = (full_m if enough else full_m.merge(part_m)).solve(
            alpha, fit_intercept
        )
        self.regressor_ = copy.deepcopy(self.regressor_)
        self.regressor_.coef_, self.regressor_.intercept_ = coef, intercept
        self.moments_ = {"full": full_m, "partial": part_m}
        self.train_scores_ = self._continued_scores(frame)
        self.tail_ = self._tails(frame, self.tail_)
        return self

    def _continued_scores(self, frame: Frame) -> np.ndarray:
        """Scores of ``frame``'s rows after each channel's kept tail, which is at least
        :meth:`lookback` rows: the scores the whole stream would give them."""
        scores = np.zeros(frame.n_rows)
        names = [self.target_, *self.exogenous_]
        values = frame.select(names).X
        for key, rows in segments(frame):
            past = self.tail_.get(key)
            new = values[rows]
            old = np.zeros((0, len(names))) if past is None else _tail_matrix(past)
            stream = Frame(X=np.vstack([old, new]), columns=names)
            scores[rows] = self.score_stream(stream, None)[0][old.shape[0] :]
        return scores

    def _tails(self, frame: Frame, tails: State) -> State:
        """``tails`` continued with ``frame``'s rows: per channel, the rows seen and the last
        :meth:`lookback` values of the target and the exogenous columns."""
        keep = self.lookback()[0]
        out = dict(tails)
        target = frame.column(self.target_)
        exo_idx = [frame.column_index(c) for c in self.exogenous_]
        for key, rows in segments(frame):
            past = tails.get(key)
            y, exo = target[rows], frame.X[rows][:, exo_idx] if exo_idx else None
            if past is not None:
                y = np.concatenate([past["y"], y])
                exo = None if exo is None else np.vstack([past["exo"], exo])
            out[key] = {
                "seen": (past["seen"] if past else 0) + rows.size,
                "y": y[-keep:].copy(),
                "exo": None if exo is None else exo[-keep:].copy(),
            }
        return out

    def score_frame(self, frame: Frame) -> np.ndarray:
        """Return the smoothed absolute forecast error of each row of ``frame``, in its row
        order (higher = more anomalous).

        :raises NotFittedError: before :meth:`fit_frame`.
        """
        return self.score_stream(frame, None)[0]

    def init_state(self) -> State:
        """No channel seen yet."""
        return {}

    def score_stream(self, frame: Frame, state: State | None) -> tuple[np.ndarray, State]:
        """Score the next chunk of a stream, continuing ``state`` (None or :meth:`init_state`:
        the stream's start); the given state is not modified.

        Returns the chunk's scores, bit for bit those of the whole stream, and the state to
        carry, per channel: its last ``window + horizon - 1`` target values, its last
        ``window - 1`` exogenous rows, the EWMA's filter state, its row count and
        ``partial_rows``, how many of its rows were scored without a full window.

        :raises NotFittedError: before :meth:`fit_frame`.
        """
        check_is_fitted(self, "regressor_")
        carried = dict(state or {})
        scores = np.zeros(frame.n_rows)
        for key, rows, past, y, exo, X in self._channel_inputs(frame, carried):
            error = np.abs(y - self._predict(X, past["seen"]))
            scores[rows], zi = ewma(error, self.smoothing, past["zi"])
            carried[key] = {
                "seen": past["seen"] + rows.size,
                "partial_rows": min(past["seen"] + rows.size, self._span),
                "y": np.concatenate([past["y"], y])[-self._span:],
                "exo": None if exo is None else np.concatenate(
                    [past["exo"], exo] if past["exo"] is not None else [exo])[-self.window:],
                "zi": zi,
            }
        return scores, carried

    def design_stream(
        self, frame: Frame, state: State | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The regressor's inputs (named by :meth:`input_names`), the forecasts and the
        observed target values of ``frame``'s rows (its row order), continuing ``state`` as
        :meth:`score_stream` does; for explaining a forecast."""
        check_is_fitted(self, "regressor_")
        inputs = np.zeros((frame.n_rows, len(self.input_names())))
        forecasts = np.zeros(frame.n_rows)
        for _, rows, past, _, _, X in self._channel_inputs(frame, dict(state or {})):
            inputs[rows] = X
            forecasts[rows] = self._predict(X, past["seen"])
        return inputs, forecasts, frame.column(self.target_)

    def input_names(self) -> list[str]:
        """The regressor's inputs: the target's lags (``f0[t-3]``: three rows before), then
        per exogenous column its value at ``t`` and its sum over the window."""
        check_is_fitted(self, "regressor_")
        lags = [f"{self.target_}[t-{self._span - i}]" for i in range(self.window)]
        return [*lags, *self.exogenous_, *(f"sum({c},{self.window})" for c in self.exogenous_)]

    def _channel_inputs(self, frame: Frame, carried: State) -> Any:
        """Per channel of ``frame``: its key, rows, carried past, target values, exogenous
        rows and the regressor's inputs."""
        exo_idx = [frame.column_index(c) for c in self.exogenous_]
        target = frame.column(self.target_)
        for key, rows in segments(frame):
            past = carried.get(key) or {"seen": 0, "y": target[:0], "exo": None, "zi": None}
            y = target[rows]
            exo = frame.X[rows][:, exo_idx] if exo_idx else None
            yield key, rows, past, y, exo, self._inputs(y, exo, past["y"], past["exo"])

    def lookback(self) -> History:
        """History a row needs so that it scores as in the whole stream: ``window + horizon
        - 1`` rows of lags (the exogenous sums need ``window - 1``), then the rows after which
        the EWMA of the errors has forgotten the padded start (its weight < 1e-12).

        :returns: ``(rows, 0.0)``.
        """
        return self._span + ewma_memory(self.smoothing), 0.0

    def partial_window_rows(self, frame: Frame) -> int:
        """How many rows of ``frame`` are scored without a full window of past values."""
        _, bounds = frame.channel_segments()
        return int(np.minimum(np.diff(bounds), self._span).sum())

    def score_counts(self, frame: Frame) -> dict[str, int]:
        """Counts to report for scoring ``frame`` (rows scored with a padded window)."""
        return {"rows_scored_with_partial_window": self.partial_window_rows(frame)}

    # -- internals ---------------------------------------------------------------------------
    def _check_params(self) -> None:
        for key in ("window", "horizon"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"model.{key}: must be a positive integer, got {value!r}")
        if self.warmup not in WARMUP_POLICIES:
            raise ConfigError(
                f"model.warmup: unknown policy {self.warmup!r}; accepted: "
                f"{', '.join(WARMUP_POLICIES)}"
            )
        if not isinstance(self.smoothing, (int, float)) or self.smoothing < 1:
            raise ConfigError(f"model.smoothing: must be a span >= 1, got {self.smoothing!r}")
        if isinstance(self.exogenous, str):
            raise ConfigError("model.exogenous: expected a list of column names or patterns")

    def _predict(self, X: np.ndarray, seen: int) -> np.ndarray:
        """The regressor's predictions for a channel's rows ``seen``, ``seen + 1``, ...

        A row's prediction can differ in its last bits with where it sits in a BLAS call,
        so predictions are made in blocks of :data:`PREDICT_BLOCK` rows counted from the
        channel's first row, each padded to full size: every row is predicted in the same
        place whatever the chunking.
        """
        G = PREDICT_BLOCK
        out = np.empty(X.shape[0])
        for b0 in range(seen // G * G, seen + X.shape[0], G):
            lo, hi = max(b0, seen), min(b0 + G, seen + X.shape[0])
            block = np.zeros((G, X.shape[1]))
            block[lo - b0 : hi - b0] = X[lo - seen : hi - seen]
            out[lo - seen : hi - seen] = self.regressor_.predict(block)[lo - b0 : hi - b0]
        return out

    def _inputs(
        self, y: np.ndarray, exo: np.ndarray | None, past_y: np.ndarray,
        past_exo: np.ndarray | None,
    ) -> np.ndarray:
        """The regressor's inputs for one channel's rows ``y`` after ``past_y`` (its earlier
        values: all of them, or at least ``window + horizon - 1``)."""
        series = np.concatenate([past_y, y])
        parts = [lagged(series, self._span)[past_y.size :, : self.window]]
        if exo is not None:
            parts += [exo, trailing_sums(exo, self.window, past_exo)]
        return np.hstack(parts)

    @property
    def _span(self) -> int:
        """Past rows a prediction needs: the window plus the horizon's lead."""
        return self.window + self.horizon - 1

    def _design(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs, targets and a full-window mask, rows in channel/time order."""
        order, bounds = frame.channel_segments()
        y = frame.column(self.target_)[order]
        exo_idx = [frame.column_index(c) for c in self.exogenous_]
        exo = frame.X[:, exo_idx][order] if exo_idx else None  # not a copy of all of X
        blocks = []
        full = np.ones(frame.n_rows, dtype=bool)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            part = None if exo is None else exo[lo:hi]
            blocks.append(self._inputs(y[lo:hi], part, y[:0], None))
            full[lo : min(hi, lo + self._span)] = False
        return np.vstack(blocks), y, full


def _ridge_terms(regressor: Any) -> tuple[float, bool] | None:
    """``(alpha, fit_intercept)`` of a scikit-learn ``Ridge`` whose fit the sufficient
    statistics reproduce (Cholesky solve, no positivity constraint, scalar alpha), else None."""
    from sklearn.linear_model import Ridge

    if type(regressor) is not Ridge or regressor.positive:
        return None
    if regressor.solver not in ("auto", "cholesky") or np.ndim(regressor.alpha) != 0:
        return None
    return float(regressor.alpha), bool(regressor.fit_intercept)


def _untainted(learn: np.ndarray, span: int) -> np.ndarray:
    """Rows that may teach: not excluded, and no excluded row among their ``span`` lags."""
    if learn.all():
        return learn
    bad = np.concatenate([[0], np.cumsum(~learn)])
    t = np.arange(learn.size)
    return bad[t + 1] - bad[np.maximum(t - span, 0)] == 0


def _tail_matrix(tail: dict[str, Any]) -> np.ndarray:
    y = tail["y"][:, None]
    return y if tail["exo"] is None else np.hstack([y, tail["exo"]])


def match_columns(patterns: Sequence[str], columns: Sequence[str], target: str) -> list[str]:
    """The feature columns matching ``patterns`` (names or shell-style patterns), in pattern
    order, never ``target``.

    :raises DataError: naming ``model.exogenous`` when a pattern matches no column.
    """
    out: list[str] = []
    for pattern in patterns:
        hits = [c for c in fnmatch.filter(columns, pattern) if c != target]
        if not hits and pattern != target:
            raise DataError(
                f"model.exogenous: no feature column matches {pattern!r}; columns are: "
                f"{', '.join(columns)}"
            )
        out += [c for c in hits if c not in out]
    return out


def _as_frame(X: np.ndarray, columns: Sequence[str] | None = None) -> Frame:
    X = np.asarray(X, dtype=np.float64)
    names = list(columns) if columns is not None else [f"x{i}" for i in range(X.shape[1])]
    return Frame(X=X, columns=names)
