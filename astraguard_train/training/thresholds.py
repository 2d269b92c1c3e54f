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

    Normal rows are those not labelled 1 (known normal or not judged); without labels every
    validation row counts as normal.

    With ``feedback`` (a bundle ``OUTPUT/NAME`` whose feedback store to read), operators'
    verdicts label the validation rows they cover (by channel and time range): rows of a
    false alarm count as normal, rows of a true alarm or a labelled interval do not. With
    ``clear_false_alarms``, the threshold is then raised above every false alarm's rows, but
    never so far that a true alarm's peak would no longer be flagged. Per-group chains read
    their own channel's verdicts, so each channel's threshold follows its own false alarms.
    """

    needs_train_scores = False

    def __init__(self, rate: float = 0.01, feedback: str | None = None,
                 clear_false_alarms: bool = True) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ConfigError(f"threshold.rate: must be in [0, 1), got {rate!r}")
        if feedback is not None and not isinstance(feedback, str):
            raise ConfigError(f"threshold.feedback: expected a bundle path OUTPUT/NAME, got "
                              f"{feedback!r}")
        if not isinstance(clear_false_alarms, bool):
            raise ConfigError(f"threshold.clear_false_alarms: expected true or false, got "
                              f"{clear_false_alarms!r}")
        self.rate = rate
        self.feedback = feedback
        self.clear_false_alarms = clear_false_alarms

    def choose(self, context: Any) -> float:
        """Return the threshold; raises :class:`ConfigError` without a validation part."""
        scores, labels = _validation(context, "max_false_alarm_rate", need_labels=False)
        verdicts, true_peaks = self._verdicts(context, scores)
        normal_rows = np.ones(len(scores), dtype=bool) if labels is None else (
            np.asarray(labels) != 1
        )
        normal_rows = (normal_rows & (verdicts != 1)) | (verdicts == 0)
        normal = scores[normal_rows]
        if len(normal) == 0:
            raise ConfigError(
                "threshold.name: 'max_false_alarm_rate' found no normal (label 0) row in the "
                "validation part"
            )
        s = np.sort(normal)[::-1]
        allowed = int(np.floor(self.rate * len(s) + 1e-9))
        # flags are score > threshold, so the (allowed+1)-th highest score lets `allowed` through
        threshold = float(s[allowed]) if allowed < len(s) else _below(s, len(s) - 1)
        self.info_: dict[str, Any] = {
            "rate": float(self.rate),
            "labels_used": labels is not None,
            "validation_normal_rows": int(len(s)),
        }
        if self.feedback is not None:
            threshold = self._calibrate(threshold, scores, verdicts, true_peaks)
        self.info_["validation_false_alarm_rate"] = float(np.mean(normal > threshold))
        return threshold

    def _verdicts(self, context: Any, scores: np.ndarray) -> tuple[np.ndarray, list[float]]:
        """Per validation row: 1 true alarm or interval, 0 false alarm, -1 no verdict; and
        the peak score of each true alarm or interval covering validation rows."""
        if self.feedback is None:
            return np.full(len(scores), -1, dtype=np.int8), []
        from ..errors import BundleError
        from ..feedback import FeedbackStore, feedback_labels
        from ..feedback.labels import covered

        try:
            store = FeedbackStore(self.feedback)
        except BundleError as exc:
            raise ConfigError(f"threshold.feedback: {exc}") from None
        frame = context.validation_frame
        records = store.verdicts(kinds=("verdict", "interval"))
        peaks = []
        for i in np.flatnonzero(records.labels == 1):
            rows = covered(frame, records, int(i))
            if rows.any():
                peaks.append(float(scores[rows].max()))
        return feedback_labels(frame, records), peaks

    def _calibrate(self, threshold: float, scores: np.ndarray, verdicts: np.ndarray,
                   true_peaks: list[float]) -> float:
        """Raise ``threshold`` above the false alarms' scores, capped below the lowest true
        alarm peak; record what the verdicts did in ``info_``."""
        false, true = verdicts == 0, verdicts == 1
        budget = threshold
        cap = min(true_peaks, default=np.inf)
        if self.clear_false_alarms and false.any():
            highest = float(scores[false].max())
            if highest >= threshold:
                threshold = highest if highest < cap else max(threshold, _below_value(cap))
        self.info_["feedback"] = {
            "false_alarm_rows": int(false.sum()),
            "true_alarm_rows": int(true.sum()),
            "budget_threshold": float(budget),
            "false_alarm_rows_still_flagged": int((scores[false] > threshold).sum()),
            "true_alarm_rows_flagged": int((scores[true] > threshold).sum()),
        }
        return threshold


def _below_value(value: float) -> float:
    """The largest threshold that still flags ``value`` (score > threshold)."""
    return float(np.nextafter(value, -np.inf)) - 1e-9 * max(1.0, abs(value))
