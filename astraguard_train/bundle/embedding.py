"""The arithmetic of the data map: a bounded, seeded, stratified sample of rows, and its 2-D
embeddings (PCA, and t-SNE from scikit-learn).

These are views for the report, never transforms: nothing here is registered as a plugin,
and no detector is ever given their output. PCA is cheap: it is fitted on the training sample
when a bundle is written and projects any row. t-SNE is not (seconds of CPU for a few thousand
rows) and has no projection, so it is fitted only when a report is written, on a smaller
sample (:data:`TSNE_ROWS` per side) drawn from the kept one.
"""

from __future__ import annotations

import functools

import numpy as np

#: Rows kept per side (training, scored) at most.
MAP_ROWS = 2000
#: Rows per side (training, scored) t-SNE is fitted on at most, drawn from the kept sample:
#: about 1 s of one core for both sides on the development machine (cost grows faster than n).
TSNE_ROWS = 500
#: Seed of every random choice here, so that the same run keeps the same map.
MAP_SEED = 0
#: t-SNE's perplexity (lowered for samples too small for it).
PERPLEXITY = 30.0
#: t-SNE's optimisation steps: scikit-learn's smallest, which already separates clusters.
TSNE_STEPS = 250
#: Dimensions PCA reduces the features to before t-SNE (the usual practice above 50).
TSNE_INPUT_DIMS = 50


def sample_positions(
    n_rows: int, keep: np.ndarray | None, budget: int = MAP_ROWS, seed: int = MAP_SEED
) -> np.ndarray:
    """Sorted positions of at most ``budget`` of ``n_rows`` rows, drawn without replacement.

    Rows marked in ``keep`` (labelled anomalies, alarms) are rare and are what a reader looks
    for, so they are drawn first, up to half the budget; the rest of the budget goes to the
    other rows, then back to marked ones when the others run short.
    """
    if n_rows <= budget:
        return np.arange(n_rows, dtype=np.int64)
    marked = np.flatnonzero(keep) if keep is not None else np.zeros(0, dtype=np.int64)
    rest = np.ones(n_rows, dtype=bool)  # a mask, not a set difference: no sort of n_rows
    rest[marked] = False
    other = np.flatnonzero(rest)
    n_marked = min(marked.size, max(budget // 2, budget - other.size))
    n_other = min(other.size, budget - n_marked)
    first, then = _draws(marked.size, n_marked, other.size, n_other, seed)
    picked = np.concatenate([marked[first], other[then]])
    return np.sort(picked.astype(np.int64))


@functools.lru_cache(maxsize=256)
def _draws(
    marked: int, n_marked: int, other: int, n_other: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``marked`` marked rows and of ``other`` other rows :func:`sample_positions`
    draws (``n_marked`` and ``n_other`` of them, as positions among each). A draw depends on
    these counts and the seed alone (``rng.choice`` of an array takes the items at the
    positions it draws of its length), so a fleet's thousands of channels of one length
    draw once rather than once each."""
    rng = np.random.default_rng(seed)
    first = rng.choice(marked, size=n_marked, replace=False)
    then = rng.choice(other, size=n_other, replace=False)
    first.flags.writeable = then.flags.writeable = False  # shared by every caller
    return first, then


def stratified_positions(
    marked: np.ndarray, groups: np.ndarray | None, budget: int, seed: int = MAP_SEED
) -> np.ndarray:
    """Sorted positions of at most ``budget`` rows, each group (channel) of ``groups`` its
    share of the budget and, within it, ``marked`` rows first (see :func:`sample_positions`).
    """
    n = marked.size
    if groups is None or n <= budget:
        return sample_positions(n, marked, budget, seed)
    parts = []
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        share = -(-budget * rows.size // n)  # ceiling, trimmed below
        parts.append(rows[sample_positions(rows.size, marked[rows], share, seed)])
    pos = np.sort(np.concatenate(parts))
    return pos[sample_positions(pos.size, marked[pos], budget, seed)]


def pca_axes(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two principal axes of ``X`` (rows by features), by scikit-learn's PCA.

    :returns: ``(mean, components, explained)``: the centre (d,), the axes (2, d) and the
        share of ``X``'s variance each axis explains (2,). Axes that ``X`` cannot give (one
        feature, constant features) are zero.
    """
    from sklearn.decomposition import PCA

    n, d = X.shape
    k = min(2, d, n)
    components, explained = np.zeros((2, d)), np.zeros(2)
    if k and np.ptp(X, axis=0).any():
        pca = PCA(n_components=k, random_state=MAP_SEED).fit(X)
        components[:k], explained[:k] = pca.components_, pca.explained_variance_ratio_
    return (X.mean(axis=0) if n else np.zeros(d)), components, explained


def project(X: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """The coordinates of the rows of ``X`` on the axes of :func:`pca_axes`, shape ``(n, 2)``."""
    return (np.asarray(X, dtype=np.float64) - mean) @ np.asarray(components).T


def tsne(X: np.ndarray, seed: int = MAP_SEED) -> np.ndarray:
    """A 2-D t-SNE of the rows of ``X`` (shape ``(n, 2)``), seeded.

    scikit-learn's Barnes-Hut t-SNE runs on one thread: on a shared machine its threads wait
    on each other, and one thread was 5 to 10 times quicker there for a few thousand rows.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    n = X.shape[0]
    if n < 3:  # too few rows for t-SNE's neighbourhoods: lay them on a line
        return np.column_stack([np.arange(n, dtype=np.float64), np.zeros(n)])
    X = np.asarray(X, dtype=np.float64)
    with threadpool_limits(1):
        if X.shape[1] > TSNE_INPUT_DIMS:
            X = PCA(n_components=TSNE_INPUT_DIMS, random_state=seed).fit_transform(X)
        model = TSNE(
            n_components=2, perplexity=min(PERPLEXITY, (n - 1) / 3), init="pca",
            max_iter=TSNE_STEPS, random_state=seed, n_jobs=1,
        )
        return np.asarray(model.fit_transform(X), dtype=np.float64)
