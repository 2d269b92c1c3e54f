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


def bin_edges(values: np.ndarray, n_bins: int = PSI_BINS) -> np.ndarray:
    """Return the inner bin edges (unique training quantiles) for finite ``values``.

    Edges are the ``1/n_bins ... (n_bins-1)/n_bins`` quantiles with duplicates removed, so a
    feature with few distinct values gets fewer, wider bins; the outer bins are open.
    """
    if values.size == 0:
        return np.empty(0)
    inner = np.quantile(values, np.arange(1, n_bins) / n_bins)
    return np.unique(inner)


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
    finite = col[np.isfinite(col)]
    n = int(col.size)
    out: dict[str, Any] = {
        "count": n,
        "missing_share": float(1.0 - finite.size / n) if n else 0.0,
    }
    if finite.size == 0:
        out.update(mean=None, std=None, min=None, max=None, quantiles={})
        out.update(bin_edges=[], bin_shares=[])
        return out
    qs = np.quantile(finite, QUANTILES)
    edges = bin_edges(finite)
    out.update(
        mean=float(finite.mean()),
        std=float(finite.std()),
        min=float(qs[0]),
        max=float(qs[-1]),
        quantiles={f"{q:g}": float(v) for q, v in zip(QUANTILES, qs, strict=True)},
        bin_edges=edges.tolist(),
        bin_shares=bin_shares(finite, edges).tolist(),
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
