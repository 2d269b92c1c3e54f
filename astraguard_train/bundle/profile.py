"""Per-feature profile of the training data, kept in a bundle's manifest for drift checks.

For each input feature the profile records the row count, the missing (NaN) share, mean,
standard deviation, extremes, a fixed set of quantiles, and the population-stability bins: bin
edges at the training deciles and the share of training rows in each bin. A small uniform
sample of training rows is kept beside it (``profile_sample.npy`` in the bundle) so that a
two-sample test can compare new data with real training values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Quantile levels recorded per feature.
QUANTILES: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
#: Number of population-stability bins (training deciles).
PSI_BINS = 10
#: Rows kept in the training sample for two-sample tests.
SAMPLE_ROWS = 5000
#: Quantile levels of the inner bin edges: ``1/PSI_BINS ... (PSI_BINS-1)/PSI_BINS``.
EDGE_LEVELS: tuple[float, ...] = tuple(np.arange(1, PSI_BINS) / PSI_BINS)


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Return the share of finite ``values`` in each bin ``(-inf, e0], (e0, e1], ... (ek, inf)``."""
    counts = bin_counts(values, edges)
    total = counts.sum()
    return counts / total if total else counts.astype(np.float64)


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many of the NaN-free ``values`` fall in each bin of :func:`bin_shares`, for
    ascending ``edges``: one counting pass per edge (the values at or below it), differenced,
    several times quicker than bisecting every value into a profile's nine edges."""
    upto = [np.count_nonzero(values <= e) for e in np.asarray(edges, dtype=np.float64)]
    return np.diff(np.array([0, *upto, values.size], dtype=np.int64))


def feature_profile(column: np.ndarray) -> dict[str, Any]:
    """Return the profile of one feature column (NaN counts as missing).

    :returns: a JSON-friendly dict with ``count``, ``missing_share``, ``mean``, ``std``,
        ``min``, ``max``, ``quantiles`` (level -> value), ``bin_edges`` and ``bin_shares``.
        Statistics of a column with no finite value are None.
    """
    return _profile(np.array(column, dtype=np.float64).ravel())


def profile_matrix(X: np.ndarray, columns: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Return ``{column: feature_profile(X[:, j])}`` for every column of ``X``."""
    # one copy with each feature's values contiguous, sorted in place feature by feature
    by_feature = np.array(np.asarray(X, dtype=np.float64).T, order="C")
    return {name: _profile(by_feature[j]) for j, name in enumerate(columns)}


def _profile(col: np.ndarray) -> dict[str, Any]:
    """:func:`feature_profile` of ``col``, a 1-D float64 array it may reorder."""
    n = int(col.size)
    # a finite sum means no NaN or inf: the column is used as is, without a masked copy
    with np.errstate(over="ignore", invalid="ignore"):
        clean = bool(np.isfinite(col.sum()))
    finite = col if clean else col[np.isfinite(col)]
    out: dict[str, Any] = {
        "count": n,
        "missing_share": float(1.0 - finite.size / n) if n else 0.0,
    }
    if finite.size == 0:
        out.update(mean=None, std=None, min=None, max=None, quantiles={})
        out.update(bin_edges=[], bin_shares=[])
        return out
    mean, std = float(finite.mean()), float(finite.std())  # in row order, as ever
    # Sorted once, the values give every quantile by position and the bin counts by
    # bisecting the edges into them instead of bisecting every value into the edges. Bin
    # edges are the inner quantiles with duplicates removed, so a feature with few distinct
    # values gets fewer, wider bins.
    finite.sort()
    values = sorted_quantiles(finite, QUANTILES + EDGE_LEVELS)
    qs, edges = values[: len(QUANTILES)], np.unique(values[len(QUANTILES) :])
    # bin i holds edges[i-1] < v <= edges[i], as bin_shares' searchsorted(side="left") puts it
    upto = np.searchsorted(finite, edges, side="right")
    counts = np.diff(np.concatenate([[0], upto, [finite.size]]))
    out.update(
        mean=mean,
        std=std,
        min=float(qs[0]),
        max=float(qs[-1]),
        quantiles={f"{q:g}": float(v) for q, v in zip(QUANTILES, qs, strict=True)},
        bin_edges=edges.tolist(),
        bin_shares=(counts / finite.size).tolist(),
    )
    return out


def sorted_quantiles(ordered: np.ndarray, levels: Any) -> np.ndarray:
    """``np.quantile(ordered, levels)`` (its default, linear method) of sorted, finite
    values, read off by position: numpy would partition a copy of them first.

    The same arithmetic as numpy's, so the same bits.
    """
    n = ordered.size
    at = (n - 1) * np.asarray(levels, dtype=np.float64)
    below = np.floor(at)
    top = at >= n - 1  # the last value, as numpy takes it
    a = ordered[np.where(top, n - 1, below).astype(np.intp)]
    b = ordered[np.where(top, n - 1, below + 1).astype(np.intp)]
    t = at - below
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def sample_rows(X: np.ndarray, n: int = SAMPLE_ROWS, seed: int = 0) -> np.ndarray:
    """Return up to ``n`` rows of ``X`` drawn uniformly without replacement, in row order."""
    if X.shape[0] <= n:
        return np.array(X, dtype=np.float64)
    rows = np.sort(np.random.default_rng(seed).choice(X.shape[0], size=n, replace=False))
    return np.asarray(X[rows], dtype=np.float64)


def fingerprint(X: np.ndarray) -> dict[str, Any]:
    """Return the training data's fingerprint: row count, shape and SHA-256 of the float64 array.

    The digest is over the C-ordered float64 bytes, so the same values in the same order give
    the same digest whatever the array's memory layout.
    """
    import hashlib

    arr = np.ascontiguousarray(X, dtype=np.float64)
    return {
        "rows": int(arr.shape[0]),
        "columns": int(arr.shape[1]) if arr.ndim == 2 else 1,
        "sha256": hashlib.sha256(arr.data).hexdigest(),
        "dtype": "float64",
    }
