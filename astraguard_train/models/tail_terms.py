"""ECOD's and COPOD's scores as sums of per-feature terms, each row scored on its own against
the training rows.

PyOD's ``decision_function`` for these two detectors ranks the rows it is given against the
training rows *and each other*: each feature's empirical distribution is recomputed over the
training rows plus the whole batch. A row's score then depends on the rows scored with it: a
file scored in chunks of another size scores differently, and when an explainer rescores many
copies of one alarm (each with one feature swapped), the copies make the alarm's own values
common, and so less anomalous.

Here a row is scored as PyOD scores a batch holding that row alone. With ``n`` training rows,
feature ``j`` of a row at ``x`` has a left tail ``(#train <= x + 1) / (n + 1)`` and a right
tail ``(#train >= x + 1) / (n + 1)`` (the row counts itself, ties count as within the tail);
``u_left`` and ``u_right`` are their negative logs, and the training skewness of the feature
picks a side (``u_right`` when skewed right, ``u_left`` when skewed left, their sum when not
skewed). The feature's term is, for ECOD, the largest of the three; for COPOD, the larger of
the skew side and the mean of the two tails. The score is the sum of the terms, so each term
is the feature's exact share of it.

The skewness is the training data's. PyOD's batch of one row recomputes it with the row added,
which can flip its sign only for a feature whose training skewness is about zero (and, for
ECOD, changes nothing unless it is exactly zero).
"""

from __future__ import annotations

import attrs
import numpy as np

#: The detectors scored this way, by PyOD class name.
RULES = ("ECOD", "COPOD")


@attrs.frozen(eq=False)
class Tails:
    """What scoring needs from the training rows: each feature's training values sorted
    (``(d, n)``, one contiguous row per feature) and the sign of its training skewness."""

    sorted_values: np.ndarray
    skew_sign: np.ndarray

    @classmethod
    def of(cls, X_train: np.ndarray) -> Tails:
        """The tails of training rows ``X_train`` (``(n, d)``)."""
        from scipy.stats import skew

        X = np.asarray(X_train, dtype=np.float64)
        # a constant feature has no skewness (NaN): not skewed, as PyOD counts it
        sign = np.sign(np.nan_to_num(skew(X, axis=0)))
        return cls(np.sort(X.T, axis=1), sign)


def tail_terms(tails: Tails, X: np.ndarray, rule: str) -> np.ndarray:
    """The ``(rows, features)`` terms of ``X``'s rows under ``rule`` (``"ECOD"`` or
    ``"COPOD"``); each row's terms add up to its score.

    :raises ValueError: for another rule, or ``X`` with another number of features.
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; accepted: {', '.join(RULES)}")
    X = np.asarray(X, dtype=np.float64)
    d, n = tails.sorted_values.shape
    if X.ndim != 2 or X.shape[1] != d:
        raise ValueError(f"expected rows of {d} features, got shape {X.shape}")
    at_most = np.empty(X.shape)
    at_least = np.empty(X.shape)
    for j in range(d):
        column = tails.sorted_values[j]
        at_most[:, j] = np.searchsorted(column, X[:, j], side="right")
        at_least[:, j] = n - np.searchsorted(column, X[:, j], side="left")
    u_left = np.log(n + 1) - np.log(at_most + 1)
    u_right = np.log(n + 1) - np.log(at_least + 1)
    sign = tails.skew_sign
    u_skew = np.where(sign > 0, u_right, np.where(sign < 0, u_left, u_left + u_right))
    if rule == "ECOD":
        terms = np.maximum(np.maximum(u_left, u_right), u_skew)
    else:
        terms = np.maximum(u_skew, 0.5 * (u_left + u_right))
    # a missing value has no tail: its row's score is NaN, which scoring reports by row
    return np.where(np.isnan(X), np.nan, terms)
