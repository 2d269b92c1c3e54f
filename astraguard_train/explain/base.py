"""What every explainer shares: the rescoring handle it is given, what it returns, and the
top-K output columns built from that.

A contribution is signed: for a detector's score, how much the feature raised the row's
score above what it would be with the feature at its training reference (positive = made
the row more anomalous); for a forecast input, how much it moved the forecast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np

from ..data.frame import Frame

#: Output column names for the ``i``-th ranked feature (from 1) and its contribution.
FEATURE_COLUMN = "explain_{i}_feature"
CONTRIBUTION_COLUMN = "explain_{i}_contribution"
#: Extra output columns of forecast explanations: the target's value and its forecast.
OBSERVED, FORECAST = "observed", "forecast"


@attrs.frozen(eq=False)
class Rescorer:
    """How an explainer may score changed features of one chunk of one chain.

    :param score: scores a features frame. When ``stateless``, any rows in any order (rows
        may be stacked); otherwise exactly the chunk's rows, in order, continuing ``state``.
    :param stateless: the model's score for a row depends on that row alone.
    :param state: the model's carried state before the chunk (None: stateless or the start).
    """

    score: Callable[[Frame], np.ndarray]
    stateless: bool
    state: Any = None


@attrs.frozen(eq=False)
class Contributions:
    """An explainer's answer for ``rows`` (positions in the features frame it was given).

    :param names: what each column of ``values`` is (feature or input names).
    :param values: ``(len(rows), len(names))`` signed contributions.
    :param by_magnitude: rank by absolute value (inputs that moved a forecast either way);
        otherwise largest first (what raised the anomaly score most).
    :param extras: further figures per explained row, by output column name (``observed``,
        ``forecast``).
    """

    rows: np.ndarray
    names: tuple[str, ...]
    values: np.ndarray
    by_magnitude: bool = False
    extras: Mapping[str, np.ndarray] = attrs.field(factory=dict)


def top_columns(found: Contributions, n_rows: int, top: int) -> dict[str, np.ndarray]:
    """The output columns for ``n_rows`` rows, of which ``found.rows`` are explained: the
    ``top`` largest contributions by name and value (empty text and NaN elsewhere), then the
    extras (NaN elsewhere).

    A contribution of exactly 0 names no feature (empty text, value 0): ranking features that
    did nothing (every input of a forecast that is constant, say) would point an operator at
    them.
    """
    values = np.asarray(found.values, dtype=np.float64)
    k = min(top, values.shape[1])
    key = np.abs(values) if found.by_magnitude else values
    order = np.argsort(-key, axis=1, kind="stable")[:, :k]
    names = np.asarray(found.names, dtype=str)
    out: dict[str, np.ndarray] = {}
    for i in range(top):
        feature = np.zeros(n_rows, dtype=names.dtype if names.size else "U1")
        amount = np.full(n_rows, np.nan)
        if i < k:
            ranked = np.take_along_axis(values, order[:, i : i + 1], axis=1)[:, 0]
            feature[found.rows] = np.where(ranked == 0, "", names[order[:, i]])
            amount[found.rows] = ranked
        out[FEATURE_COLUMN.format(i=i + 1)] = feature
        out[CONTRIBUTION_COLUMN.format(i=i + 1)] = amount
    for name, figures in found.extras.items():
        col = np.full(n_rows, np.nan)
        col[found.rows] = figures
        out[name] = col
    return out


def blank_columns(like: Mapping[str, np.ndarray], n_rows: int) -> dict[str, np.ndarray]:
    """Columns shaped like ``like`` for ``n_rows`` unexplained rows."""
    return {
        k: np.zeros(n_rows, dtype=v.dtype) if v.dtype.kind == "U" else np.full(n_rows, np.nan)
        for k, v in like.items()
    }


def concat_columns(parts: list[Mapping[str, np.ndarray] | None],
                   sizes: list[int]) -> dict[str, np.ndarray] | None:
    """Concatenate per-part explanation columns; a part without them (None) gets blanks."""
    like = next((p for p in parts if p), None)
    if like is None:
        return None
    filled = [p if p else blank_columns(like, n) for p, n in zip(parts, sizes, strict=True)]
    return {k: np.concatenate([p[k] for p in filled]) for k in like}


def reference_of(X: np.ndarray) -> dict[str, Any]:
    """The training reference of a feature matrix: per-feature median and mean, and the
    (shrunk) precision matrix that gives each feature's expected value given the others."""
    from sklearn.covariance import ledoit_wolf

    X = np.asarray(X, dtype=np.float64)
    # each feature's values contiguous: numpy's partition then runs on unit-stride rows
    median = np.median(np.ascontiguousarray(X.T), axis=1)
    mean = X.mean(axis=0)
    precision = None
    if X.shape[1] > 1 and X.shape[0] > X.shape[1]:
        cov, _ = ledoit_wolf(X)
        # a feature constant in training has no variance to condition on: keep it invertible
        cov = cov + np.eye(X.shape[1]) * 1e-9 * max(float(np.trace(cov)), 1.0)
        precision = np.linalg.inv(cov)
    return {"median": median.tolist(), "mean": mean.tolist(),
            "precision": None if precision is None else precision.tolist()}


def conditional_reference(X: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Each feature's expected value given the row's other features, under the training
    data's Gaussian fit: ``x_j - (P (x - mean))_j / P_jj`` for every row and feature at once."""
    centred = X - mean
    return X - (centred @ precision) / np.diag(precision)


def explained_text(columns: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The explained rows (positions) and each one's explanation as one line,
    ``"c2 +0.31; c5 +0.12"``, from the explanation columns, for reports. Only these rows (the
    alarms, a few percent) get text: the others have none.

    A row explained with no feature to name (every contribution exactly 0) still gets a line,
    so a report does not show its alarm as unexplained: the observed value against its
    forecast where the explainer gives them, else that no feature moves the score.
    """
    names: list[np.ndarray] = []
    values: list[np.ndarray] = []
    while FEATURE_COLUMN.format(i=len(names) + 1) in columns:
        names.append(columns[FEATURE_COLUMN.format(i=len(names) + 1)])
        values.append(columns[CONTRIBUTION_COLUMN.format(i=len(names))])
    if not names:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype="U1")
    # An explained row has a finite first contribution (NaN marks rows not asked about).
    rows = np.flatnonzero(np.isfinite(values[0]))
    out: np.ndarray | None = None
    for name, value in zip(names, values, strict=True):
        name = name[rows]
        shown = np.char.mod("%+.3g", np.nan_to_num(value[rows]))
        part = np.where(name != "", np.char.add(np.char.add(name, " "), shown), "")
        out = part if out is None else np.where(
            part != "", np.char.add(np.char.add(out, "; "), part), out)
    assert out is not None
    return rows, np.where(out != "", out, _no_cause_text(columns, rows))


def _no_cause_text(columns: Mapping[str, np.ndarray], rows: np.ndarray) -> np.ndarray | str:
    if OBSERVED in columns and FORECAST in columns:
        observed = np.char.mod("%.6g", columns[OBSERVED][rows])
        forecast = np.char.mod("%.6g", columns[FORECAST][rows])
        return np.char.add(np.char.add(np.char.add("observed ", observed), " vs forecast "),
                           forecast)
    return "no feature moves the score"
