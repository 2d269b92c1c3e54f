"""Sufficient statistics of a linear least-squares fit, merged as rows arrive.

A ridge regression (or a plain least-squares one) on rows ``(X, y)`` depends on them only
through their count, their means and their centred cross-products
``Xc'Xc``, ``Xc'yc``. :class:`Moments` keeps those and merges two sets of rows with the
pairwise update of Chan, Golub and LeVeque (1979), which stays accurate when the means are
large against the spread (unlike ``X'X - n * mean * mean'``). Solving from merged moments
gives the fit on all the rows without seeing the old ones again.
"""

from __future__ import annotations

import numpy as np

#: Rows per block when taking moments.
BLOCK = 65_536


class Moments:
    """Count, means and centred cross-products of rows ``X`` (n x p) and targets ``y``.

    :param n: rows seen; ``mean_x``/``mean_y``: their means; ``cxx``: ``Xc'Xc`` (p x p);
        ``cxy``: ``Xc'yc`` (p).
    """

    def __init__(
        self, n: int, mean_x: np.ndarray, mean_y: float, cxx: np.ndarray, cxy: np.ndarray
    ) -> None:
        self.n = int(n)
        self.mean_x = mean_x
        self.mean_y = float(mean_y)
        self.cxx = cxx
        self.cxy = cxy

    @classmethod
    def empty(cls, p: int) -> Moments:
        """No rows yet, for ``p`` inputs."""
        return cls(0, np.zeros(p), 0.0, np.zeros((p, p)), np.zeros(p))

    @classmethod
    def of(cls, X: np.ndarray, y: np.ndarray, rows: np.ndarray | None = None) -> Moments:
        """The moments of the rows ``X[rows]`` (all rows when None) with targets ``y[rows]``.

        Taken in blocks of :data:`BLOCK` rows and merged, so memory stays bounded on
        millions of rows.
        """
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        picked = np.arange(X.shape[0]) if rows is None else np.flatnonzero(rows)
        out = cls.empty(X.shape[1])
        for lo in range(0, picked.size, BLOCK):
            take = picked[lo : lo + BLOCK]
            Xb, yb = X[take], y[take]
            mx, my = Xb.mean(axis=0), float(yb.mean())
            Xb -= mx
            out = out.merge(cls(take.size, mx, my, Xb.T @ Xb, Xb.T @ (yb - my)))
        return out

    def merge(self, other: Moments) -> Moments:
        """The moments of both sets of rows together."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        dx = other.mean_x - self.mean_x
        dy = other.mean_y - self.mean_y
        w = self.n * other.n / n
        return Moments(
            n,
            self.mean_x + dx * (other.n / n),
            self.mean_y + dy * (other.n / n),
            self.cxx + other.cxx + w * np.outer(dx, dx),
            self.cxy + other.cxy + w * dx * dy,
        )

    def solve(self, alpha: float, fit_intercept: bool = True) -> tuple[np.ndarray, float]:
        """Coefficients and intercept minimising ``|y - Xw - b|^2 + alpha |w|^2``.

        As scikit-learn's ``Ridge`` (Cholesky solver): with an intercept the inputs and
        target are centred first and ``alpha`` is not scaled by the row count, so a fit on
        more rows is regularised relatively less, exactly as a refit on them would be.
        """
        if fit_intercept:
            gram, xy, b0 = self.cxx.copy(), self.cxy, None
        else:  # the raw cross-products, rebuilt from the centred ones
            gram = self.cxx + self.n * np.outer(self.mean_x, self.mean_x)
            xy, b0 = self.cxy + self.n * self.mean_x * self.mean_y, 0.0
        gram.flat[:: gram.shape[0] + 1] += alpha
        from scipy import linalg

        coef = linalg.solve(gram, xy, assume_a="pos")
        intercept = self.mean_y - float(self.mean_x @ coef) if b0 is None else b0
        return coef, intercept
