"""Built-in threshold strategies: contamination, fixed, best_f1, max_false_alarm_rate.

A strategy that never reads ``context.train_scores`` sets the class attribute
``needs_train_scores = False``, so the training rows are not scored for it.

A strategy's ``choose(context)`` gets a :class:`~astraguard_train.training.ThresholdContext`
(training scores, and the validation part's scores, labels and rows; never the test part) and
returns the threshold; rows whose score is strictly above it are flagged. ``info_`` says how
it was chosen and lands in the run's ``threshold_info``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError

_SET_VALIDATION = (
    "set [split] validation_size (for example 0.2) so that a validation part is held out"
)


class Contamination:
    """Flag the top ``contamination`` share of the training scores (their quantile)."""

    def __init__(self, contamination: float = 0.05) -> None:
        if not 0.0 < contamination < 0.5 + 1e-12:
            raise ConfigError(f"threshold.contamination: must be in (0, 0.5], got {contamination}")
        self.contamination = contamination

    def choose(self, context: Any) -> float:
        value = float(np.quantile(context.train_scores, 1.0 - self.contamination))
        self.info_ = {"quantile": 1.0 - self.contamination}
        return value


class Fixed:
    """A threshold given in the config (``value``)."""

    needs_train_scores = False

    def __init__(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise ConfigError(f"threshold.value: must be a finite number, got {value!r}")
        self.value = value

    def choose(self, context: Any) -> float:
        self.info_ = {"value": float(self.value)}
        return float(self.value)


def _validation(context: Any, strategy: str, need_labels: bool) -> tuple[np.ndarray, Any]:
    scores = context.validation_scores
    if scores is None or len(scores) == 0:
        raise ConfigError(
            f"threshold.name: '{strategy}' needs a validation part; {_SET_VALIDATION}"
        )
    labels = context.validation_labels
    if need_labels and labels is None:
        raise ConfigError(
            f"threshold.name: '{strategy}' needs labels in the validation part, and the data "
            f"has none; use 'contamination' or 'max_false_alarm_rate' instead"
        )
    return np.asarray(scores, dtype=np.float64), labels


def _below(sorted_desc: np.ndarray, i: int) -> float:
    """A threshold that flags exactly the scores ``sorted_desc[: i + 1]``: halfway to the next
    lower distinct score (or a little below the lowest)."""
    top = float(sorted_desc[i])
    if i + 1 < len(sorted_desc):
        return (top + float(sorted_desc[i + 1])) / 2.0
    return float(np.nextafter(top, -np.inf)) - 1e-9 * max(1.0, abs(top))


class BestF1:
    """The threshold maximising F-beta on the validation part's labels (``beta = 1``: F1).

    Every cut between two distinct validation scores is tried at once (a cumulative count
    over the scores sorted high to low); among equal F-beta, the highest threshold wins.
    """

    needs_train_scores = False

    def __init__(self, beta: float = 1.0) -> None:
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
            raise ConfigError(f"threshold.beta: must be a number > 0, got {beta!r}")
        self.beta = beta

    def choose(self, context: Any) -> float:
        """Return the threshold; raises :class:`ConfigError` without a labelled validation part."""
        scores, labels = _validation(context, "best_f1", need_labels=True)
        y = np.asarray(labels) == 1
        if not y.any():
            raise ConfigError(
                "threshold.name: 'best_f1' found no labelled anomaly in the validation part; "
                "raise [split] validation_size or use a stratified split"
            )
        order = np.argsort(-scores, kind="stable")
        s, hit = scores[order], y[order]
        # a cut can only fall where the score changes: keep the last row of each tie run
        last = np.flatnonzero(np.append(s[1:] != s[:-1], True))
        tp = np.cumsum(hit)[last]
        flagged = last + 1
        precision = tp / flagged
        recall = tp / y.sum()
        b2 = float(self.beta) ** 2
        denom = b2 * precision + recall
        f = np.where(denom > 0, (1 + b2) * precision * recall / np.where(denom > 0, denom, 1), 0.0)
        best = int(np.argmax(f))  # first maximum = fewest flags = highest threshold
        threshold = _below(s, int(last[best]))
        self.info_ = {
            "beta": float(self.beta),
            "f_beta": float(f[best]),
            "precision": float(precision[best]),
            "recall": float(recall[best]),
            "validation_rows": int(len(s)),
            "validation_anomalies": int(y.sum()),
        }
        return threshold


class MaxFalseAlarmRate:
    """The lowest threshold that flags at most ``rate`` of the validation part's normal rows.

    Normal rows are those labelled 0; without labels every validation row counts as normal.
    """

    needs_train_scores = False

    def __init__(self, rate: float = 0.01) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ConfigError(f"threshold.rate: must be in [0, 1), got {rate!r}")
        self.rate = rate

    def choose(self, context: Any) -> float:
        """Return the threshold; raises :class:`ConfigError` without a validation part."""
        scores, labels = _validation(context, "max_false_alarm_rate", need_labels=False)
        normal = scores if labels is None else scores[np.asarray(labels) == 0]
        if len(normal) == 0:
            raise ConfigError(
                "threshold.name: 'max_false_alarm_rate' found no normal (label 0) row in the "
                "validation part"
            )
        s = np.sort(normal)[::-1]
        allowed = int(np.floor(self.rate * len(s) + 1e-9))
        # flags are score > threshold, so the (allowed+1)-th highest score lets `allowed` through
        threshold = float(s[allowed]) if allowed < len(s) else _below(s, len(s) - 1)
        self.info_ = {
            "rate": float(self.rate),
            "validation_false_alarm_rate": float(np.mean(normal > threshold)),
            "validation_normal_rows": int(len(s)),
            "labels_used": labels is not None,
        }
        return threshold
