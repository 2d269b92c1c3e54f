"""Per-group training (``[train] group_by``), the fallback model, and training on clean rows."""

from __future__ import annotations

import numpy as np
import pytest

from astraguard_train.config import PipelineConfig
from astraguard_train.data.frame import Frame
from astraguard_train.errors import DataError, StageError
from astraguard_train.training.pipeline import Pipeline


def _config(**train) -> PipelineConfig:
    return PipelineConfig.from_dict(
        {
            "loader": {"name": "synthetic", "n_samples": 800, "n_channels": 3, "seed": 5},
            "model": {"name": "iforest", "n_estimators": 30, "random_state": 0},
            "train": train,
        }
    )


def test_one_chain_per_channel_each_scoring_its_own_rows(registry):
    pipe = Pipeline(_config(group_by="channel"), registry)
    result = pipe.run(persist=False)
    det = pipe.detector
    assert sorted(det.chains) == ["BUS-1", "BUS-2", "BUS-3"]
    assert len(set(det.thresholds.values())) == 3
    assert set(result.threshold_info["per_group"]) == {"BUS-1", "BUS-2", "BUS-3"}
    test = pipe.context.split.test
    scored = pipe.context.test_scores
    for channel, rows in test.groups("channel").items():
        feats, own = det.chains[channel].score(test.take(rows))
        mine = np.isin(scored.frame.index, feats.index)
        assert np.allclose(scored.scores[mine], own)
        assert np.all(scored.thresholds[mine] == det.thresholds[channel])
    # each chain's model was fitted on its own channel's training rows only
    train_groups = pipe.context.split.train.groups("channel")
    for channel, chain in det.chains.items():
        assert chain.train_scores_.shape == (len(train_groups[channel]),)


def test_unseen_group_is_an_error_unless_a_fallback_exists(registry):
    pipe = Pipeline(_config(group_by="channel"), registry)
    pipe.run(persist=False)
    test = pipe.context.split.test
    renamed = Frame(
        X=test.X, columns=test.columns, timestamps=test.timestamps,
        channels=np.where(test.channels == "BUS-1", "BUS-9", test.channels),
    )
    with pytest.raises(DataError, match=r"BUS-9.*not seen in training.*fallback = true"):
        pipe.detector.score_frame(renamed)

    with_fallback = Pipeline(_config(group_by="channel", fallback=True), registry)
    with_fallback.run(persist=False)
    det = with_fallback.detector
    assert None in det.chains
    scored = det.score_frame(renamed)
    new = scored.frame.channels == "BUS-9"
    _, expected = det.chains[None].score(renamed.take(renamed.channels == "BUS-9"))
    assert np.allclose(scored.scores[new], expected)
    assert np.all(scored.thresholds[new] == det.thresholds[None])


def _phases(seed: int = 0) -> Frame:
    """Two mission phases whose normal levels differ: nominal ~ 0, eclipse ~ 10."""
    rng = np.random.default_rng(seed)
    n = 600
    phase = np.repeat(["nominal", "eclipse"], n // 2)
    x = rng.normal(size=(n, 2)) + np.where(phase == "nominal", 0.0, 10.0)[:, None]
    return Frame(X=x, columns=["a", "b"], extras={"phase": phase})


def test_any_column_can_be_the_group_key_and_per_phase_normal_differs(registry):
    config = PipelineConfig.from_dict(
        {
            "split": {"strategy": "random", "test_size": 0.2, "seed": 0},
            "model": {"name": "iforest", "random_state": 0},
            "threshold": {"name": "contamination", "contamination": 0.02},
            "train": {"group_by": "phase"},
        }
    )
    pipe = Pipeline(config, registry)
    pipe.run(data=_phases(), persist=False)
    assert sorted(pipe.detector.chains) == ["eclipse", "nominal"]
    # an eclipse-level reading during the nominal phase is anomalous for that phase only
    odd = Frame(
        X=np.array([[10.0, 10.0]]), columns=["a", "b"], extras={"phase": np.array(["nominal"])}
    )
    assert pipe.detector.score_frame(odd).flags.tolist() == [True]
    glob = Pipeline(config.evolve(train=config.train.__class__()), registry)
    glob.run(data=_phases(), persist=False)
    assert glob.detector.score_frame(odd).flags.tolist() == [False]


def test_groups_train_in_parallel_with_the_same_result(registry):
    serial = Pipeline(_config(group_by="channel"), registry)
    serial.run(persist=False)
    parallel = Pipeline(_config(group_by="channel", n_jobs=2), registry)
    parallel.run(persist=False)
    assert serial.detector.thresholds == parallel.detector.thresholds
    assert np.array_equal(serial.context.test_scores.scores, parallel.context.test_scores.scores)


def test_unknown_group_key_names_the_columns(registry):
    with pytest.raises(StageError, match=r"no column 'mode'.*columns are: channel"):
        Pipeline(_config(group_by="mode"), registry).run(persist=False)


def test_bundle_holds_every_group_chain(registry, tmp_path):
    from astraguard_train.bundle.store import load

    pipe = Pipeline(_config(group_by="channel", fallback=True), registry)
    result = pipe.run(output=str(tmp_path))
    loaded = load(result.artifact, registry, trusted=True).detector
    assert set(loaded.chains) == {"BUS-1", "BUS-2", "BUS-3", None}
    test = pipe.context.split.test
    assert np.allclose(loaded.score_frame(test).scores, pipe.context.test_scores.scores)


def test_training_on_clean_rows_reports_how_many_were_left_out(registry):
    config = _config().evolve(
        split=PipelineConfig().split.__class__(strategy="random", test_size=0.3, seed=1)
    )
    clean = config.evolve(train=config.train.__class__(exclude_labelled_anomalies=True))
    pipe = Pipeline(clean, registry)
    result = pipe.run(persist=False)
    labelled = int(pipe.context.split.train.labels.sum())
    assert labelled > 0
    assert result.counts["train_rows_excluded_anomalies"] == labelled
    assert pipe.detector.chains[None].train_scores_.shape == (
        pipe.context.split.train.n_rows - labelled,
    )
    dirty = Pipeline(config, registry).run(persist=False)
    assert "train_rows_excluded_anomalies" not in dirty.counts


def test_a_group_whose_model_cannot_fit_is_named(registry):
    pytest.importorskip("pyod")
    rng = np.random.default_rng(0)
    phase = np.r_[np.repeat("nominal", 200), np.repeat("safe_mode", 3)]
    frame = Frame(X=rng.normal(size=(203, 2)), columns=["a", "b"], extras={"phase": phase})
    config = PipelineConfig.from_dict(
        {
            "split": {"strategy": "random", "test_size": 0.0},
            "model": {"name": "pyod.knn", "n_neighbors": 5},
            "train": {"group_by": "phase"},
        }
    )
    # three rows cannot give five neighbours
    with pytest.raises(StageError, match=r"group 'safe_mode' \(3 training rows\)"):
        Pipeline(config, registry).run(data=frame, persist=False)


def test_copies_builds_one_and_unpickles_the_rest():
    from astraguard_train.training.fit import copies

    built = []

    def make():
        built.append(1)
        return {"params": [1, 2]}

    made = list(copies(make, 3))
    assert len(built) == 1 and made == [{"params": [1, 2]}] * 3
    assert len({id(m) for m in made}) == 3 and made[0]["params"] is not made[1]["params"]
    assert list(copies(make, 0)) == [] and len(built) == 1


def test_copies_builds_each_when_what_it_built_cannot_be_pickled():
    from astraguard_train.training.fit import copies

    class Local:  # defined in a function: pickle cannot find it
        pass

    made = list(copies(Local, 3))
    assert len({id(m) for m in made}) == 3 and all(type(m) is Local for m in made)


@pytest.mark.parametrize(("stop_after", "started"), [(None, True), ("train", True),
                                                      ("features", False), ("load", False)])
def test_group_workers_start_as_the_data_loads_when_the_run_trains(registry, monkeypatch,
                                                                   stop_after, started):
    from astraguard_train.training import fit

    calls = []
    waited = []

    def start(config, reg):
        calls.append(pipe.context.frame)  # the frame is not loaded yet
        return lambda: waited.append(True)

    monkeypatch.setattr(fit, "start_group_workers", start)
    pipe = Pipeline(_config(group_by="channel", n_jobs=2), registry)
    pipe.run(persist=False, stop_after=stop_after)
    if started:  # once, before loading; and the train stage waited for them
        assert calls == [None] and waited == [True]
    else:  # a run that stops before training starts none, not even in its features stage
        assert calls == [] and not waited


def test_a_run_without_groups_starts_no_workers(registry):
    from astraguard_train.parallel import workers_up
    from astraguard_train.training.fit import start_group_workers

    assert start_group_workers(_config(n_jobs=2), registry) is workers_up
