"""Selection: candidates scored on validation rows only; the winner alone meets the test part."""

from __future__ import annotations

import numpy as np
import pytest

from astraguard_train.config import PipelineConfig
from astraguard_train.data.frame import Frame
from astraguard_train.data.splits import split_frame
from astraguard_train.errors import DataError
from astraguard_train.plugins import build_registry
from astraguard_train.plugins.hookspecs import hookimpl
from astraguard_train.selection.tuning import compare, consensus_agreement, tune


class ColumnScore:
    """Scores each row by feature 0 (``sign = -1`` reverses it)."""

    fitted_rows: list[np.ndarray] = []

    def __init__(self, sign: float = 1.0) -> None:
        self.sign = sign

    def fit(self, X: np.ndarray, y: object = None) -> ColumnScore:
        ColumnScore.fitted_rows.append(np.array(X[:, 0]))
        self.fitted_ = True
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        return self.sign * X[:, 0]


class Broken:
    """Fails to fit."""

    def fit(self, X: np.ndarray, y: object = None) -> Broken:
        raise ValueError("cannot fit on purpose")

    def score_samples(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover
        return X[:, 0]


class NotANumber(ColumnScore):
    """Scores every row as NaN."""

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        return np.full(X.shape[0], np.nan)


class Spies:
    """Test plugin: two column scorers, a broken model and a metric that records what it sees."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    @hookimpl
    def register_models(self, register):
        register("column", ColumnScore)
        register("broken", Broken)
        register("nan", NotANumber)

    @hookimpl
    def register_metrics(self, register):
        seen = self.seen

        def factory():
            def spy(y_true, scores, flags, frame):
                seen.append(np.array(frame.index))
                return {}

            return spy

        register("spy", factory)


@pytest.fixture
def spies():
    plugin = Spies()
    ColumnScore.fitted_rows = []
    return plugin, build_registry(plugins=[plugin])


def _rows(n: int = 600, seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    labels = (X[:, 0] > 1.3).astype(int)
    return Frame(X=X, columns=["a", "b", "c"], labels=labels)


def _config(space: dict, **search) -> PipelineConfig:
    return PipelineConfig.from_dict({
        "split": {"strategy": "random", "test_size": 0.3, "seed": 3},
        "model": {"name": "column"},
        "search": {"metric": "roc_auc", "space": space, **search},
    })


def test_test_part_is_never_seen_before_the_winner_is_chosen(spies, tmp_path):
    plugin, registry = spies
    config = _config({"model.sign": [1.0, -1.0]}, validation_size=0.3)
    frame = _rows()
    test_rows = split_frame(frame, config.split).test.index
    # Poison: on the test part the labels say the opposite, so peeking would pick sign = -1.
    labels = frame.labels.copy()
    labels[test_rows] = (frame.X[test_rows, 0] < -1.3).astype(int)
    poisoned = Frame(X=frame.X, columns=frame.columns, labels=labels)

    result = tune(config, registry=registry, data=poisoned, output=str(tmp_path))

    assert result.best.params == {"model.sign": 1.0}
    assert result.leaderboard[0].score > 0.9 > result.leaderboard[1].score
    # Every evaluation before the last one saw validation rows only; the last is the test part.
    *search_views, final = plugin.seen
    assert search_views, "candidates were scored through the metric plugins"
    for view in search_views:
        assert not np.intersect1d(view, test_rows).size
    assert np.array_equal(np.sort(final), np.sort(test_rows))
    # No candidate was fitted on a test row either.
    test_values = set(np.round(frame.X[test_rows, 0], 12))
    fits_during_search = ColumnScore.fitted_rows[:-1]
    for fitted in fits_during_search:
        assert not test_values & set(np.round(fitted, 12))
    # The winner's run scored the test part once, with the poisoned labels: it looks bad there.
    assert result.run.metrics["roc_auc"] < 0.1


def test_leaderboard_is_sorted_and_failures_rank_last(spies, tmp_path):
    _, registry = spies
    config = _config({"model.name": ["broken", "column", "nan", "iforest"]}, cv=3)
    result = tune(config, registry=registry, data=_rows(), output=str(tmp_path))
    scores = [e.score for e in result.leaderboard]
    assert scores[-2:] == [None, None]
    errors = [e.error for e in result.leaderboard[-2:]]
    assert "cannot fit on purpose" in errors[0] and "NaN scores" in errors[1]
    assert scores[0] >= scores[1]
    assert result.n_folds == 3 and len(result.leaderboard[0].fold_scores) == 3
    assert result.run.artifact and (tmp_path / "detector.best.toml").is_file()


def test_candidates_fit_on_label_0_rows_when_asked(spies, tmp_path):
    _, registry = spies
    frame = _rows()
    X = frame.X.copy()
    X[frame.labels == 1, 0] += 100.0  # anomalies are easy to recognise in what models see
    frame = Frame(X=X, columns=frame.columns, labels=frame.labels)
    config = _config({"model.sign": [1.0, -1.0]}, cv=3).with_overrides(
        ["train.exclude_labelled_anomalies=true", "scaler.name=\"none\""]
    )
    tune(config, registry=registry, data=frame, persist=False)
    assert len(ColumnScore.fitted_rows) == 2 * 3 + 1
    for fitted in ColumnScore.fitted_rows:
        assert fitted.max() < 50.0


def test_unlabelled_data_ranks_by_consensus(spies):
    _, registry = spies
    frame = _rows().without_labels()
    config = _config({"model.name": ["column", "iforest", "pyod.ecod"]}, validation_size=0.3)
    config = config.with_overrides([])
    result = tune(config, registry=registry, data=frame, persist=False)
    assert result.mode == "unsupervised" and result.metric == "consensus_agreement"
    assert result.run.metrics.get("roc_auc") is None
    assert all(-1.0 <= e.score <= 1.0 for e in result.leaderboard)


def test_supervised_mode_without_labels_is_an_error(spies):
    _, registry = spies
    config = _config({"model.sign": [1.0, -1.0]}, mode="supervised")
    with pytest.raises(DataError, match="search.mode"):
        tune(config, registry=registry, data=_rows().without_labels(), persist=False)


def test_labelled_folds_without_anomalies_are_skipped_or_reported(spies):
    _, registry = spies
    frame = _rows()
    labels = np.zeros(frame.n_rows, dtype=int)
    labels[:12] = 1  # time-ordered data: every anomaly sits in the earliest rows
    stamps = np.arange(frame.n_rows).astype("datetime64[s]")
    series = Frame(X=frame.X, columns=frame.columns, labels=labels, timestamps=stamps)
    config = _config({"model.sign": [1.0, -1.0]}, cv=3).with_overrides(
        ['split.strategy="time"']
    )
    with pytest.raises(DataError, match="none of the 3 validation fold"):
        tune(config, registry=registry, data=series, persist=False)
    labels[150:160] = 1  # now one fold's validation rows hold anomalies
    series = Frame(X=frame.X, columns=frame.columns, labels=labels, timestamps=stamps)
    result = tune(config, registry=registry, data=series, persist=False)
    assert result.mode == "supervised"
    assert result.n_folds == 1 and result.n_folds_skipped == 2


def test_consensus_agreement_rewards_agreeing_detectors():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=300)
    a = truth + rng.normal(scale=0.1, size=300)
    b = truth + rng.normal(scale=0.1, size=300)
    c = truth + rng.normal(scale=0.1, size=300)
    odd = -truth
    agreement = consensus_agreement([a, b, c, odd])
    assert agreement[3] < 0 < min(agreement[:3])
    assert np.argmin(agreement) == 3
    assert consensus_agreement([a]).tolist() == [1.0]


def test_same_leaderboard_from_serial_threading_and_loky():
    config = PipelineConfig.from_dict({
        "split": {"strategy": "random", "test_size": 0.3, "seed": 1},
        "model": {"name": "iforest", "random_state": 7},
        "search": {"validation_size": 0.3,
                   "space": {"model.n_estimators": [20, 40], "model.max_features": [0.5, 1.0]}},
    })
    frame = _rows(400)
    boards = []
    for backend, n_jobs in (("loky", 1), ("threading", 2), ("loky", 2)):
        result = tune(config, data=frame, persist=False, backend=backend, n_jobs=n_jobs)
        boards.append([e.to_dict() for e in result.leaderboard])
    assert boards[0] == boards[1] == boards[2]
    # few anomalies: the base config (100 trees) is scored beside the 4 candidates
    assert len(boards[0]) == 5 and sum(bool(e.get("default")) for e in boards[0]) == 1


def test_progress_is_called_once_per_candidate(spies):
    _, registry = spies
    calls = []
    config = _config({"model.sign": [1.0, -1.0, 2.0]}, cv=2)
    tune(config, registry=registry, data=_rows(), persist=False,
         progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_compare_ranks_models_on_the_same_split(spies):
    _, registry = spies
    config = _config({"model.sign": [1.0]})
    rows = compare(config, ["iforest", "column", "pyod.ecod"], registry=registry, data=_rows())
    assert [r.model for r in rows][0] == "column"  # the labels are feature 0's tail
    scores = [r.score for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert len({r.metrics["n_scored"] for r in rows}) == 1


@pytest.mark.parametrize("metric", ["f1", "roc_auc"])
def test_thresholds_chosen_on_validation_rows_work_inside_the_search(spies, metric):
    _, registry = spies
    config = _config({"model.sign": [1.0, -1.0]}, validation_size=0.3, metric=metric)
    config = config.with_overrides(['threshold.name="best_f1"', "split.validation_size=0.2"])
    result = tune(config, registry=registry, data=_rows(), persist=False)
    assert all(e.error is None for e in result.leaderboard)
    assert result.best.params == {"model.sign": 1.0}
    assert result.best.score > 0.5 > result.leaderboard[1].score
    assert result.run.threshold_info["method"] == "best_f1"


def test_event_f1_search_on_time_series_uses_expanding_windows(tmp_path):
    config = PipelineConfig.from_dict({
        "loader": {"name": "synthetic", "n_samples": 1500},
        "threshold": {"name": "best_f1"},
        "split": {"validation_size": 0.2},
        "search": {"metric": "event_f1", "cv": 2,
                   "space": {"model.name": ["iforest", "lof"]}},
    })
    result = tune(config, persist=False)
    assert result.metric == "event_f1" and result.n_folds == 2
    assert all(e.score is not None and 0.0 <= e.score <= 1.0 for e in result.leaderboard)
    assert "event_f1" in result.run.metrics


def test_consensus_compares_the_same_rows_when_folds_are_in_time_order(spies):
    _, registry = spies
    frame = _rows()
    stamps = np.random.default_rng(8).permutation(frame.n_rows).astype("datetime64[s]")
    series = Frame(X=frame.X, columns=frame.columns, timestamps=stamps)  # no labels
    config = _config({"model.sign": [1.0, 2.0, 3.0, -1.0]}, cv=2)
    result = tune(config, registry=registry, data=series, persist=False)
    scores = {e.params["model.sign"]: e.score for e in result.leaderboard}
    # Signs 1, 2, 3 rank rows identically; -1 reverses them. Aligned rows give exactly these.
    assert scores == pytest.approx({1.0: 1.0, 2.0: 1.0, 3.0: 1.0, -1.0: -1.0})
