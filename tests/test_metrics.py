"""Metric plugins: classification, ranking and events, and the run's ``metrics``."""

from __future__ import annotations

import numpy as np
import pytest

from astraguard_train.config import PipelineConfig
from astraguard_train.data.frame import Frame
from astraguard_train.plugins import build_registry
from astraguard_train.plugins.hookspecs import hookimpl
from astraguard_train.training.pipeline import Pipeline


def _frame(n: int, timestamps: bool = True, channels=None) -> Frame:
    ts = np.datetime64("2026-01-01", "ns") + np.arange(n) * np.timedelta64(1, "s")
    return Frame(
        X=np.zeros((n, 1)), columns=["x"], timestamps=ts if timestamps else None,
        channels=channels,
    )


def test_classification_worked_example(registry):
    metric = registry.create("metric", "classification")
    y = np.array([1, 1, 0, 0, 0])
    flags = np.array([True, False, True, False, False])
    m = metric(y, np.zeros(5), flags, _frame(5))
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (1, 1, 2, 1)
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["f1"] == 0.5
    assert m["accuracy"] == 0.6 and m["detection_rate"] == 0.5


def test_ranking_worked_example(registry):
    metric = registry.create("metric", "ranking")
    # one anomaly above both normals, one between them: 3 of 4 pairs ordered -> AUC 0.75
    m = metric(np.array([1, 0, 1, 0]), np.array([0.9, 0.5, 0.4, 0.1]), np.zeros(4, bool), _frame(4))
    assert m["roc_auc"] == 0.75
    assert m["pr_auc"] == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_events_metric_orders_rows_by_channel_and_time(registry):
    metric = registry.create("metric", "events")
    # channel a, in time order: labels .##. flags ..#. ; channel b: labels ##.. flags ....
    labels = np.array([0, 1, 1, 0, 1, 1, 0, 0])
    flags = np.array([0, 0, 1, 0, 0, 0, 0, 0], bool)
    channels = np.array(list("aaaabbbb"))
    ts = np.datetime64("2026-01-01", "ns") + np.tile(np.arange(4), 2) * np.timedelta64(10, "s")
    perm = np.random.default_rng(0).permutation(8)  # rows arrive shuffled
    frame = Frame(X=np.zeros((8, 1)), columns=["x"], timestamps=ts[perm], channels=channels[perm])
    m = metric(labels[perm], np.zeros(8), flags[perm], frame)
    assert m["event_recall"] == 0.5 and m["event_precision"] == 1.0
    assert m["event_f1"] == pytest.approx(2 / 3)
    assert m["detection_delay_mean"] == 1.0 and m["detection_delay_mean_seconds"] == 10.0


def test_events_metric_needs_timestamps_and_labels(registry):
    metric = registry.create("metric", "events")
    flags = np.array([True, False])
    assert metric(np.array([1, 0]), np.zeros(2), flags, _frame(2, timestamps=False)) == {}
    assert metric(None, np.zeros(2), flags, _frame(2)) == {}


def test_run_metrics_hold_point_and_event_figures(registry):
    config = PipelineConfig.from_dict(
        {"loader": {"name": "synthetic", "n_samples": 1500, "n_channels": 2, "seed": 1}}
    )
    m = Pipeline(config, registry).run(persist=False).metrics
    for key in ("tp", "fp", "tn", "fn", "accuracy", "precision", "recall", "f1",
                "detection_rate", "roc_auc", "pr_auc", "flagged_share", "event_precision",
                "event_recall", "event_f1", "detection_delay_mean"):
        assert key in m, key
    assert 0 <= m["flagged_share"] <= 1 and m["n_events"] > 0


class _MeanScore:
    @hookimpl
    def register_metrics(self, register):
        def mean_score(y, scores, flags, frame):
            return {"mean_score": float(np.mean(scores))}

        register("mean_score", lambda: mean_score)


def test_a_third_party_metric_joins_the_run():
    registry = build_registry(plugins=[_MeanScore()])
    config = PipelineConfig.from_dict(
        {"loader": {"name": "synthetic", "n_samples": 600, "n_channels": 1},
         "evaluate": {"metrics": ["mean_score", "ranking"]}}
    )
    pipe = Pipeline(config, registry)
    m = pipe.run(persist=False).metrics
    assert m["mean_score"] == pytest.approx(float(pipe.context.test_scores.scores.mean()))
    assert "roc_auc" in m and "event_f1" not in m
