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
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1)
    total = counts.sum()
    return counts / total if total else counts.astype(np.float64)


def feature_profile(column: np.ndarray) -> dict[str, Any]:
    """Return the profile of one feature column (NaN counts as missing).

    :returns: a JSON-friendly dict with ``count``, ``missing_share``, ``mean``, ``std``,
        ``min``, ``max``, ``quantiles`` (level -> value), ``bin_edges`` and ``bin_shares``.
        Statistics of a column with no finite value are None.
    """
    col = np.asarray(column, dtype=np.float64)
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
    # One sorted copy serves every quantile and the bin counts: the same order statistics
    # as np.quantile on the unsorted values, and counts by bisecting the edges into it
    # instead of bisecting every value into the edges. Bin edges are the inner quantiles
    # with duplicates removed, so a feature with few distinct values gets fewer, wider bins.
    ordered = np.sort(finite)
    values = np.quantile(ordered, QUANTILES + EDGE_LEVELS)
    qs, edges = values[: len(QUANTILES)], np.unique(values[len(QUANTILES) :])
    # bin i holds edges[i-1] < v <= edges[i], as bin_shares' searchsorted(side="left") puts it
    upto = np.searchsorted(ordered, edges, side="right")
    counts = np.diff(np.concatenate([[0], upto, [finite.size]]))
    out.update(
        mean=float(finite.mean()),
        std=float(finite.std()),
        min=float(qs[0]),
        max=float(qs[-1]),
        quantiles={f"{q:g}": float(v) for q, v in zip(QUANTILES, qs, strict=True)},
        bin_edges=edges.tolist(),
        bin_shares=(counts / finite.size).tolist(),
    )
    return out


def profile_matrix(X: np.ndarray, columns: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Return ``{column: feature_profile(X[:, j])}`` for every column of ``X``."""
    return {name: feature_profile(X[:, j]) for j, name in enumerate(columns)}


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
