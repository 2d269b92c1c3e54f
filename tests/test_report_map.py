"""The map of the data: the seeded, bounded sample, its PCA, the kept (and verified)
``data_map.npz``, t-SNE fitted by the report (never when a bundle is written) and the
report's section; t-SNE never reaches a detector."""

from __future__ import annotations

import attrs
import joblib
import numpy as np
import pytest
from bundle_helpers import rewrite_manifest
from test_report import CHANNEL_PIPELINE, _tabular_frame

from astraguard_train.bundle.data_map import DATA_MAP_FILE, DataMap, load_data_map
from astraguard_train.bundle.embedding import (
    pca_axes,
    project,
    sample_positions,
    stratified_positions,
    tsne,
)
from astraguard_train.bundle.evaluation import load_evaluation
from astraguard_train.bundle.scoring import load_bundle
from astraguard_train.bundle.store import resolve, training_features, verify
from astraguard_train.config import PipelineConfig
from astraguard_train.data.frame import Frame
from astraguard_train.errors import BundleError, IntegrityError
from astraguard_train.plugins import build_registry
from astraguard_train.report import from_bundle, render
from astraguard_train.report.map_view import map_view
from astraguard_train.training.pipeline import Pipeline

pytest.importorskip("plotly", reason="the report needs the 'report' extra (in 'dev')")

#: The flagship channel pipeline (forecast + dynamic + post-processing), smaller.
CHANNELS = {**CHANNEL_PIPELINE,
            "loader": {"name": "synthetic", "n_samples": 900, "n_channels": 3}}


@pytest.fixture(scope="module")
def channel_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("map")
    pipeline = Pipeline(PipelineConfig.from_dict(CHANNELS))
    return pipeline, pipeline.run(output=str(out))


# -- the sample and the embeddings ------------------------------------------------------------


def test_sample_is_bounded_seeded_and_keeps_marked_rows_first():
    keep = np.zeros(50_000, dtype=bool)
    keep[np.random.default_rng(1).choice(50_000, 300, replace=False)] = True
    rows = sample_positions(50_000, keep, budget=1000)
    assert rows.size == 1000 and np.array_equal(rows, np.unique(rows))
    assert keep[rows].sum() == 300  # all marked rows, fewer than half the budget
    assert np.array_equal(rows, sample_positions(50_000, keep, budget=1000))
    assert not np.array_equal(rows, sample_positions(50_000, keep, budget=1000, seed=5))
    # marked rows beyond half the budget share it with the others
    many = sample_positions(50_000, np.ones(50_000, dtype=bool) & (np.arange(50_000) < 40_000),
                            budget=1000)
    assert many.size == 1000 and (many < 40_000).sum() == 1000 - (many >= 40_000).sum()
    assert (many >= 40_000).sum() == 500
    # short of rows: every one, in order
    assert np.array_equal(sample_positions(7, None, budget=10), np.arange(7))


@pytest.mark.parametrize("n_marked", [0, 3, 700, 1400])
def test_a_sample_draws_what_a_generator_of_its_seed_draws_from_the_rows(n_marked):
    # what sample_positions did before it kept each size's draw: two choices of the rows
    keep = np.zeros(1400, dtype=bool)
    keep[np.random.default_rng(n_marked).choice(1400, n_marked, replace=False)] = True
    for budget, seed in [(1, 0), (7, 0), (1000, 0), (7, 3)]:
        rng = np.random.default_rng(seed)
        marked, other = np.flatnonzero(keep), np.flatnonzero(~keep)
        n_m = min(marked.size, max(budget // 2, budget - other.size))
        want = np.sort(np.concatenate([rng.choice(marked, n_m, replace=False),
                                       rng.choice(other, min(other.size, budget - n_m),
                                                  replace=False)]))
        for _ in range(2):  # the second time from the kept draw
            got = sample_positions(1400, keep, budget=budget, seed=seed)
            assert got.dtype == np.int64 and np.array_equal(got, want)


def test_pca_axes_explain_the_variance_and_project_new_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 3)) * [5.0, 1.0, 0.1]
    mean, components, explained = pca_axes(X)
    assert explained[0] > 0.9 and explained.sum() <= 1.0
    assert abs(components[0, 0]) > 0.99  # the widest feature is the first axis
    xy = project(X, mean, components)
    assert xy.shape == (500, 2) and np.allclose(xy.mean(axis=0), 0.0)
    assert np.allclose(project(X[:3] + [1.0, 0, 0], mean, components)[:, 0] - xy[:3, 0],
                       components[0, 0])
    # one feature: the second axis is empty, not an error
    _, one, share = pca_axes(X[:, :1])
    assert one.shape == (2, 1) and share[1] == 0.0


def test_stratified_draw_gives_each_group_its_share_marked_rows_first():
    groups = np.repeat([0, 1, 2], [600, 300, 100])
    marked = np.zeros(1000, dtype=bool)
    marked[[5, 650, 950]] = True
    at = stratified_positions(marked, groups, 200)
    assert at.size == 200 and np.array_equal(at, np.unique(at))
    assert marked[at].sum() == 3
    assert np.allclose(np.bincount(groups[at]), [120, 60, 20], atol=2)
    assert np.array_equal(at, stratified_positions(marked, groups, 200))
    assert np.array_equal(stratified_positions(marked, None, 2000), np.arange(1000))


def test_tsne_is_seeded_and_two_dimensional():
    X = np.random.default_rng(3).normal(size=(120, 5))
    a, b = tsne(X), tsne(X)
    assert a.shape == (120, 2) and np.array_equal(a, b)
    assert tsne(X[:2]).shape == (2, 2)


# -- the kept map -----------------------------------------------------------------------------


def test_bundle_keeps_a_bounded_pooled_map_of_what_the_chains_see(channel_run):
    pipeline, result = channel_run
    path = resolve(result.artifact)
    manifest = verify(path)
    assert DATA_MAP_FILE in manifest["files"]  # listed and checksummed like the others
    ctx = pipeline.context
    kept = load_data_map(path, manifest, ctx.test_scores.n_rows)
    assert kept is not None and kept.features == tuple(ctx.detector.output_columns)
    # every channel's rows, pooled, each in its own chain's features
    assert set(kept.train_channels) == {"BUS-1", "BUS-2", "BUS-3"}
    row = int(np.flatnonzero(ctx.split.train.index == kept.train_index[0])[0])
    chain = ctx.detector.chains[kept.train_channels[0]]
    one = chain.features(ctx.split.train.take(ctx.split.train.groups()[kept.train_channels[0]]))
    at = int(np.flatnonzero(one.index == ctx.split.train.index[row])[0])
    assert np.allclose(kept.train_X[0], one.X[at], rtol=1e-6)
    # scored rows point into the kept evaluation, alarms and labelled anomalies kept
    test = ctx.test_scores
    assert kept.scored_rows.max() < test.n_rows
    assert test.flags[kept.scored_rows].sum() == min(test.flags.sum(), kept.scored_rows.size)
    # the PCA coordinates are the kept axes' projection
    assert np.allclose(kept.train_pca, project(kept.train_X, kept.mean, kept.components),
                       atol=1e-3)


def test_map_sample_is_bounded_and_the_same_on_every_run():
    frame = _tabular_frame(3000)
    config = PipelineConfig.from_dict({"model": {"name": "iforest", "random_state": 0}})
    pipeline = Pipeline(config)
    pipeline.run(frame, persist=False)
    ctx = pipeline.context
    a = DataMap.build(ctx.detector, ctx.split.train, ctx.test_scores, rows=200)
    b = DataMap.build(ctx.detector, ctx.split.train, ctx.test_scores, rows=200)
    assert a.train_X.shape == (200, 4) and a.scored_X.shape == (200, 4)
    assert np.array_equal(a.train_index, b.train_index)
    assert np.array_equal(a.scored_pca, b.scored_pca)
    # labelled training anomalies are drawn first
    assert a.train_labels.sum() == ctx.split.train.labels.sum()


def test_the_map_takes_the_runs_training_features_as_it_would_compute_them(channel_run):
    pipeline, _ = channel_run
    ctx = pipeline.context
    known = training_features(ctx)
    assert known is ctx.plan.features and set(known) >= set(ctx.detector.chains)
    given = DataMap.build(ctx.detector, ctx.split.train, ctx.test_scores, rows=300,
                          features=known)
    computed = DataMap.build(ctx.detector, ctx.split.train, ctx.test_scores, rows=300)
    for name in ("train_index", "train_channels", "scored_rows"):
        assert np.array_equal(getattr(given, name), getattr(computed, name)), name
    for name in ("train_X", "scored_X", "train_pca", "components"):
        assert np.allclose(getattr(given, name), getattr(computed, name)), name
    assert given.left_out == computed.left_out


def test_features_fitted_without_the_labelled_anomalies_are_not_the_maps():
    config = PipelineConfig.from_dict({"model": {"name": "iforest", "random_state": 0},
                                       "train": {"exclude_labelled_anomalies": True}})
    pipeline = Pipeline(config)
    pipeline.run(_tabular_frame(3000), persist=False)
    ctx = pipeline.context
    assert ctx.plan.train.n_rows < ctx.split.train.n_rows
    assert training_features(ctx) is None
    # so the map still draws the labelled training anomalies, first
    kept = DataMap.build(ctx.detector, ctx.split.train, ctx.test_scores, rows=200)
    assert kept.train_labels.sum() == ctx.split.train.labels.sum()


def test_no_detector_sees_the_map(channel_run):
    pipeline, result = channel_run
    ctx = pipeline.context
    before = joblib.hash(ctx.detector)
    small = DataMap.build(ctx.detector, ctx.split.train, ctx.test_scores, rows=90)
    assert joblib.hash(ctx.detector) == before
    # bounded, each channel drawn in its share
    assert small.train_X.shape[0] == 90 and small.scored_X.shape[0] == 90
    _, counts = np.unique(small.train_channels, return_counts=True)
    assert counts.size == 3 and counts.min() >= 25
    # t-SNE is no plugin of any kind, and the bundle's pickles never name it
    registry = build_registry()
    for entry in registry.entries():
        module = getattr(entry.factory, "__module__", "")
        assert "tsne" not in entry.name and "embedding" not in module and "data_map" not in (
            module), entry
    path = resolve(result.artifact)
    for f in [*path.glob("detector*"), *path.glob("groups/*")]:
        assert b"sklearn.manifold" not in f.read_bytes() and b"data_map" not in f.read_bytes()
    scored = load_bundle(path, trusted=True).score(ctx.split.test)
    assert np.array_equal(scored.scores, ctx.test_scores.scores)


def test_altered_map_is_refused(channel_run, tmp_path):
    import shutil

    _, result = channel_run
    copy = tmp_path / "copy"
    shutil.copytree(resolve(result.artifact), copy)
    kept = DataMap.load(copy / DATA_MAP_FILE)
    attrs.evolve(kept, train_pca=kept.train_pca + 1.0).save(copy / DATA_MAP_FILE)
    with pytest.raises(IntegrityError, match="data_map.npz: SHA-256 does not match"):
        from_bundle(copy)


def test_map_that_does_not_fit_its_rows_is_refused(channel_run, tmp_path):
    _, result = channel_run
    kept = DataMap.load(resolve(result.artifact) / DATA_MAP_FILE)
    with pytest.raises(BundleError, match="scored_rows point outside the 5 scored rows"):
        kept.check(tmp_path / DATA_MAP_FILE, 5)


def test_old_bundle_report_says_the_map_is_absent_and_how_to_get_it(channel_run, tmp_path):
    import shutil

    _, result = channel_run
    old = tmp_path / "old"
    shutil.copytree(resolve(result.artifact), old)
    (old / DATA_MAP_FILE).unlink()
    rewrite_manifest(old, lambda m: m["files"].pop(DATA_MAP_FILE))
    data = from_bundle(old)
    assert data.data_map is None and data.timelines
    text = render(data)
    assert "Absent: this bundle keeps no map of the data" in text
    assert "astraguard-train run CONFIG" in text and 'id="map-pca"' not in text


def test_report_of_new_data_maps_its_rows_on_the_kept_axes(channel_run):
    _, result = channel_run
    kept = DataMap.load(resolve(result.artifact) / DATA_MAP_FILE)
    new = build_registry().create("loader", "synthetic",
                                  {"n_samples": 400, "n_channels": 3, "seed": 9}).load()
    data = from_bundle(result.artifact, new, trusted=True)
    m = data.data_map
    assert m is not None and m.scored_pca.shape[0] == m.scores.size > 0
    assert m.scores.size <= data.n_rows
    # the training side and the PCA axes are the kept ones; t-SNE was fitted again
    assert np.allclose(m.train_pca, kept.train_pca, atol=1e-3)
    assert m.scored_tsne.shape == (m.scored_tsne_at.size, 2) and m.scored_tsne_at.size
    assert set(m.channels) == {"BUS-1", "BUS-2", "BUS-3"}


class _NoTSNE:
    def __init__(self, *args, **kwargs):
        raise AssertionError("t-SNE fitted while writing a bundle")


def test_writing_a_bundle_fits_no_tsne_and_the_report_does(monkeypatch, tmp_path):
    import sklearn.manifold

    config = PipelineConfig.from_dict({"model": {"name": "iforest", "random_state": 0}})
    with monkeypatch.context() as patch:
        patch.setattr(sklearn.manifold, "TSNE", _NoTSNE)
        result = Pipeline(config).run(_tabular_frame(1500), output=str(tmp_path))
    path = resolve(result.artifact)
    with np.load(path / DATA_MAP_FILE) as kept:
        assert "train_pca" in kept.files and not [f for f in kept.files if "tsne" in f]
    m = from_bundle(path).data_map
    assert m is not None and m.train_tsne.shape == (m.train_tsne_at.size, 2)
    assert np.isfinite(m.train_tsne).all() and m.train_tsne.std() > 0


def test_report_tsne_is_bounded_drawn_like_the_sample_and_seeded(channel_run):
    _, result = channel_run
    path = resolve(result.artifact)
    manifest = verify(path)
    ev = load_evaluation(path, manifest)
    kept = load_data_map(path, manifest, ev.n_rows)
    a, b = map_view(kept, ev, tsne_rows=100), map_view(kept, ev, tsne_rows=100)
    assert a.train_tsne.shape == (100, 2) and a.scored_tsne.shape == (100, 2)
    assert np.array_equal(a.train_tsne, b.train_tsne)  # same bundle, same picture
    assert np.array_equal(a.scored_tsne, b.scored_tsne)
    # drawn from the kept points: alarms first, each channel its share
    marked = a.flags.astype(bool) | (a.labels == 1)
    assert 0 < marked.mean() < marked[a.scored_tsne_at].mean()
    assert np.bincount(a.train_channel[a.train_tsne_at]).min() >= 30
    # the PCA side keeps every kept point
    assert a.train_pca.shape[0] == kept.train_X.shape[0] > 100


def test_report_draws_the_map_with_explained_variance(channel_run):
    _, result = channel_run
    text = render(from_bundle(result.artifact))
    assert 'id="map-pca"' in text and 'id="map-tsne"' in text
    assert '"explained":[' in text and "of variance" in text


class _Chain:
    def __init__(self, columns):
        self.columns = columns

    def features(self, frame):
        return frame.with_features(frame.X[:, : len(self.columns)], self.columns)


class _Detector:
    group_by = "channel"

    def __init__(self):
        self.chains = {"A": _Chain(("x", "y")), "B": _Chain(("x",))}


def test_chains_that_see_different_features_keep_no_map():
    frame = Frame(X=np.ones((10, 2)), columns=("x", "y"),
                  channels=np.array(["A"] * 5 + ["B"] * 5))
    assert DataMap.build(_Detector(), frame, None) is None
