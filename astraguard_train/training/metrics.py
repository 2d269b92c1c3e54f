"""Built-in metrics: classification at the threshold, ranking quality, and events."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.frame import Frame


def confusion(y_true: np.ndarray, flags: np.ndarray) -> dict[str, int]:
    y = np.asarray(y_true) == 1
    f = np.asarray(flags, dtype=bool)
    return {
        "tp": int((y & f).sum()),
        "fp": int((~y & f).sum()),
        "tn": int((~y & ~f).sum()),
        "fn": int((y & ~f).sum()),
    }


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def classification(
    y_true: np.ndarray | None, scores: np.ndarray, flags: np.ndarray, frame: Frame
) -> dict[str, Any]:
    """Confusion matrix, accuracy, precision, recall (detection rate) and F1 at the threshold."""
    if y_true is None:
        return {}
    c = confusion(y_true, flags)
    precision = _ratio(c["tp"], c["tp"] + c["fp"])
    recall = _ratio(c["tp"], c["tp"] + c["fn"])
    return {
        **c,
        "accuracy": _ratio(c["tp"] + c["tn"], sum(c.values())),
        "precision": precision,
        "recall": recall,
        "detection_rate": recall,
        "false_alarm_rate": _ratio(c["fp"], c["fp"] + c["tn"]),
        "f1": _ratio(2 * precision * recall, precision + recall),
    }


def ranking(
    y_true: np.ndarray | None, scores: np.ndarray, flags: np.ndarray, frame: Frame
) -> dict[str, Any]:
    """ROC-AUC and PR-AUC (average precision) of the scores; None when one class is absent."""
    if y_true is None:
        return {}
    from sklearn.metrics import average_precision_score, roc_auc_score

    if len(np.unique(y_true)) < 2:
        return {"roc_auc": None, "pr_auc": None}
    return {
        "roc_auc": float(roc_auc_score(y_true, scores)),
        "pr_auc": float(average_precision_score(y_true, scores)),
    }


def events(
    y_true: np.ndarray | None, scores: np.ndarray, flags: np.ndarray, frame: Frame
) -> dict[str, Any]:
    """Event-wise precision, recall, F1 and detection delay (needs labels and timestamps).

    Rows are put in time order within each channel first; see :mod:`astraguard_train.events`.
    """
    if y_true is None or frame.timestamps is None:
        return {}
    from ..timeseries.events import event_score

    order = frame.time_order()
    segment = frame.channels[order] if frame.channels is not None else None
    result = event_score(
        np.asarray(y_true)[order],
        np.asarray(flags, dtype=bool)[order],
        segment=segment,
        timestamps=frame.timestamps[order],
    )
    return result.to_dict()
