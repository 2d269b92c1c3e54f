"""Explanations: the explainer plugins, ``score --explain``, ``explain`` and the Python API,
on a tabular bundle and on the flagship channel pipeline (forecast + dynamic + alarms)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from bundle_helpers import CSV_OPTIONS, frame_to_csv, rewrite_manifest

from astraguard_train import Frame, Pipeline, PipelineConfig
from astraguard_train.bundle.scoring import load_bundle
from astraguard_train.cli import main
from astraguard_train.cli.explain import parse_rows
from astraguard_train.errors import ConfigError, NoExplainerError
from astraguard_train.explain.base import Contributions, Rescorer, explained_text, top_columns
from astraguard_train.explain.replace import ReplaceExplainer
from astraguard_train.models.sklearn import IForest
from astraguard_train.plugins import build_registry
from astraguard_train.testing import check_explainer
from astraguard_train.timeseries.forecast import ForecastDetector
from astraguard_train.training.detector import Chain

OPTIONS = [f"--loader-option={k}={v}" for k, v in CSV_OPTIONS.items()]
COLUMNS = ["explain_1_feature", "explain_1_contribution", "explain_2_feature",
           "explain_2_contribution", "explain_3_feature", "explain_3_contribution"]
HAS_SHAP = build_registry(load_entrypoints=False).has("explainer", "shap")


def _correlated(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 1))
    return np.hstack([z + 0.3 * rng.normal(size=(n, 1)) for _ in range(5)]) * [1, 2, 3, 4, 5]


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    """A LOF bundle on 5 correlated columns (no time, no channels) and test rows in which
    row 7 has column c2 spiked."""
    out = tmp_path_factory.mktemp("tabular")
    train = Frame(X=_correlated(800, 0), columns=[f"c{i}" for i in range(5)])
    config = PipelineConfig.from_dict({
        "split": {"strategy": "random", "test_size": 0.2},
        "model": {"name": "lof", "n_neighbors": 20},
        "threshold": {"name": "contamination", "contamination": 0.05},
    })
    result = Pipeline(config).run(data=train, output=str(out))
    test = _correlated(60, 1)
    test[7, 2] += 40.0  # c2 far out
    path = out / "test.csv"
    pd.DataFrame(test, columns=train.columns).to_csv(path, index=False)
    return load_bundle(result.artifact, trusted=True), path


@pytest.fixture(scope="module")
def channels(tmp_path_factory):
    """The flagship channel pipeline, one chain per channel: rolling features, forecast
    (with exogenous inputs), dynamic thresholds, alarm post-processing; a CSV of its test
    part with one channel's target pushed off between rows 150 and 170 of each channel."""
    out = tmp_path_factory.mktemp("channels")
    config = PipelineConfig.from_dict({
        "loader": {"name": "synthetic", "n_samples": 600, "n_channels": 3, "seed": 5},
        "split": {"strategy": "time", "test_size": 0.5},
        "train": {"group_by": "channel", "n_jobs": 1},
        "transforms": [{"name": "ewma", "span": 4}],
        "scaler": {"name": "none"},
        "model": {"name": "forecast", "window": 6, "smoothing": 3, "target": "voltage",
                  "exogenous": ["current", "temperature"]},
        "threshold": {"name": "dynamic", "window": 40, "step": 7, "min_threshold": 0.0},
        "postprocess": {"merge_gap": 4, "min_event_length": 2},
        "explain": {"explainer": "forecast"},
    })
    pipe = Pipeline(config)
    result = pipe.run(output=str(out))
    test = pipe.context.split.test
    plain = Frame(X=test.X, columns=test.columns, timestamps=test.timestamps,
                  channels=test.channels)
    return load_bundle(result.artifact, trusted=True), frame_to_csv(plain, out / "test.csv")


# -- the built-in explainers ----------------------------------------------------------------


def test_the_replace_explainer_names_the_spiked_column_first(tabular):
    bundle, path = tabular
    found = bundle.explained(str(path), rows=[7], top=5)
    assert found.explanations["explain_1_feature"][0] == "c2"
    assert found.explanations["explain_1_contribution"][0] > 0


def _fitted_forest():
    """A small forest on 5 correlated columns: its chain, features, scores, rows to explain."""
    feats = Frame(X=_correlated(300, 2), columns=[f"c{i}" for i in range(5)])
    chain = Chain([], None, IForest(n_estimators=20, random_state=0)).fit(feats)
    return chain, feats, chain.score_features(feats), np.array([0, 5, 9, 200])


def test_stacked_rescoring_equals_one_feature_at_a_time():
    chain, feats, scores, rows = _fitted_forest()
    for reference in ("background", "median", "conditional"):
        explainer = ReplaceExplainer(reference, method="single").fit(chain, feats)
        stacked = explainer.explain(chain, feats, scores, rows,
                                    Rescorer(chain.score_features, stateless=True))
        one_by_one = explainer.explain(chain, feats, scores, rows,
                                       Rescorer(chain.score_features, stateless=False))
        np.testing.assert_allclose(stacked.values, one_by_one.values, rtol=1e-12)


def test_shapley_values_add_up_to_the_score_above_the_reference():
    chain, feats, scores, rows = _fitted_forest()
    explainer = ReplaceExplainer("median", method="shapley").fit(chain, feats)
    found = explainer.explain(chain, feats, scores, rows,
                              Rescorer(chain.score_features, stateless=True))
    median = np.median(feats.X, axis=0, keepdims=True)
    at_reference = chain.score_features(Frame(X=median, columns=feats.columns))[0]
    np.testing.assert_allclose(found.values.sum(axis=1), scores[rows] - at_reference,
                               rtol=1e-9)  # Shapley values are efficient
    with pytest.raises(ConfigError, match="explain.method: unknown value 'exact'"):
        ReplaceExplainer(method="exact").fit(chain, feats)


def _pairwise_game(X: np.ndarray) -> np.ndarray:
    """A score whose features interact at most in pairs (and c4 not at all)."""
    return np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + np.abs(X[:, 0] - X[:, 3]) + X[:, 2] ** 2


def test_pairwise_equals_exact_shapley_when_features_interact_in_pairs():
    feats = Frame(X=_correlated(300, 3), columns=[f"c{i}" for i in range(5)])
    rows = np.array([1, 40, 77, 299])
    rescore = Rescorer(lambda f: _pairwise_game(f.X), stateless=True)
    scores = _pairwise_game(feats.X)
    for reference in ("median", "conditional"):  # one reference row per explained row
        pairwise, exact = (
            ReplaceExplainer(reference, method).fit(None, feats)
            .explain(None, feats, scores, rows, rescore).values
            for method in ("pairwise", "shapley"))
        np.testing.assert_allclose(pairwise, exact, rtol=1e-9, atol=1e-12)
        assert np.all(pairwise[:, 4] == 0.0)  # a feature the score does not read
    background = ReplaceExplainer().fit(None, feats).explain(None, feats, scores, rows, rescore)
    assert np.all(background.values[:, 4] == 0.0) and np.all(background.values[:, :4] != 0.0)
    # with a three-way term the two halves no longer add up to the Shapley value
    rescore = Rescorer(lambda f: f.X[:, 0] * f.X[:, 1] * f.X[:, 2], stateless=True)
    scores = feats.X[:, 0] * feats.X[:, 1] * feats.X[:, 2]
    pairwise, exact = (ReplaceExplainer("median", method).fit(None, feats)
                       .explain(None, feats, scores, rows, rescore).values
                       for method in ("pairwise", "shapley"))
    assert not np.allclose(pairwise, exact)


def test_a_feature_that_contributed_nothing_is_not_named():
    """A forecast that no input moves (a channel constant in training) names no input; the
    row still counts as explained (contribution 0, not NaN), unlike a row not asked about."""
    found = Contributions(rows=np.array([0, 2]), names=("a", "b", "c"),
                          values=np.array([[0.0, 0.5, 0.0], [0.0, 0.0, 0.0]]))
    cols = top_columns(found, n_rows=3, top=2)
    assert list(cols["explain_1_feature"]) == ["b", "", ""]
    assert list(cols["explain_2_feature"]) == ["", "", ""]
    np.testing.assert_array_equal(cols["explain_1_contribution"], [0.5, np.nan, 0.0])
    np.testing.assert_array_equal(cols["explain_2_contribution"], [0.0, np.nan, 0.0])
    rows, text = explained_text(cols)
    assert list(rows) == [0, 2] and list(text) == ["b +0.5", "no feature moves the score"]


def test_an_alarm_no_input_explains_reads_observed_against_forecast():
    """The report's text for a forecast alarm that no input moved: the residual itself."""
    found = Contributions(rows=np.array([1]), names=("lag1",), values=np.array([[0.0]]),
                          extras={"observed": np.array([4.25]), "forecast": np.array([1.0])})
    rows, text = explained_text(top_columns(found, n_rows=2, top=1))
    assert list(rows) == [1] and list(text) == ["observed 4.25 vs forecast 1"]


def test_the_background_is_weighted_training_rows_and_quantiles():
    chain, feats, scores, rows = _fitted_forest()
    explainer = ReplaceExplainer().fit(chain, feats)
    background = explainer.fitted_state()["background"]
    assert np.isclose(sum(background["weights"]), 1.0)
    for row in background["rows"]:  # real training rows, not made-up centres
        assert np.any(np.all(feats.X == row, axis=1))
    np.testing.assert_allclose(background["quantiles"][1], np.median(feats.X, axis=0))
    again = ReplaceExplainer().fit(chain, feats).fitted_state()["background"]
    assert again == background  # deterministic: the same bundle from the same data
    # shapley over the background adds up to the score above the weighted background
    found = ReplaceExplainer(method="shapley").fit(chain, feats).explain(
        chain, feats, scores, rows, Rescorer(chain.score_features, stateless=True))
    base = chain.score_features(Frame(X=np.asarray(background["rows"]), columns=feats.columns))
    np.testing.assert_allclose(found.values.sum(axis=1),
                               scores[rows] - base @ background["weights"], rtol=1e-9)


@pytest.mark.parametrize("distinct", [3, 8, 11])
def test_the_background_has_as_many_rows_as_distinct_training_rows_up_to_eight(distinct):
    from astraguard_train.explain.replace import background_of

    rng = np.random.default_rng(4)
    rows = rng.normal(size=(distinct, 3))
    # the first 200 rows repeat one row: a count of the first rows alone would say 1
    X = np.vstack([np.repeat(rows[:1], 200, axis=0), rows[rng.integers(0, distinct, 300)],
                   rows])
    background = background_of(X)
    assert len(background["rows"]) == len(background["weights"]) == min(distinct, 8)
    assert len({tuple(r) for r in background["rows"]}) == min(distinct, 8)


def test_a_long_training_part_is_summarised_from_one_seeded_sample(monkeypatch):
    import astraguard_train.explain.replace as replace

    feats = Frame(X=_correlated(400, 5), columns=[f"c{i}" for i in range(5)])
    monkeypatch.setattr(replace, "FIT_SAMPLE", 100)
    state = ReplaceExplainer().fit(None, feats).fitted_state()
    assert state == ReplaceExplainer().fit(None, feats).fitted_state()  # seeded
    rows = [r for r in feats.X.tolist() if r in state["background"]["rows"]]
    assert len(rows) == len(state["background"]["rows"])  # still real training rows
    # every reference comes from the same 100 rows, not from all 400
    sample = feats.X[np.random.default_rng(0).choice(400, 100, replace=False)]
    np.testing.assert_allclose(state["reference"]["median"], np.median(sample, axis=0))
    np.testing.assert_allclose(state["background"]["quantiles"][1], np.median(sample, axis=0))
    assert not np.allclose(state["reference"]["mean"], feats.X.mean(axis=0))
    np.testing.assert_allclose(state["reference"]["mean"], sample.mean(axis=0))


def test_an_explainer_state_written_before_the_background_explains_as_before():
    chain, feats, scores, rows = _fitted_forest()
    rescore = Rescorer(chain.score_features, stateless=True)
    old = ReplaceExplainer("median", "single").fit(chain, feats)
    state = {"columns": list(old.columns_), "reference": old.reference_}  # the old layout
    for params, expected in (({}, old), ({"method": "shapley"},
                                         ReplaceExplainer("median", "shapley").fit(chain, feats))):
        loaded = ReplaceExplainer(**params).load_state(json.loads(json.dumps(state)))
        np.testing.assert_array_equal(
            loaded.explain(chain, feats, scores, rows, rescore).values,
            expected.explain(chain, feats, scores, rows, rescore).values)
    new = ReplaceExplainer("median", "shapley").fit(chain, feats).fitted_state()
    assert ReplaceExplainer().load_state(new).method == "shapley"  # settings travel


def _refuse(frame):
    raise AssertionError("a detector whose score is a sum of terms needs no rescoring")


def test_a_score_that_sums_per_feature_terms_is_explained_exactly_without_rescoring():
    pytest.importorskip("pyod")
    feats = Frame(X=_correlated(400, 4), columns=[f"c{i}" for i in range(5)])
    model = build_registry(load_entrypoints=False).create("model", "pyod.ecod", {})
    chain = Chain([], None, model).fit(feats)
    scores, rows = chain.score_features(feats), np.array([0, 5, 9, 200])
    terms = model.score_terms(feats.X[rows])
    for method in ("pairwise", "single", "shapley"):
        # background: each term above its mean over the training rows (exact interventional
        # SHAP over the training distribution), whatever the method
        explainer = ReplaceExplainer(method=method).fit(chain, feats)
        state = json.loads(json.dumps(explainer.fitted_state()))
        np.testing.assert_allclose(state["terms"], model.score_terms(feats.X).mean(axis=0))
        found = ReplaceExplainer().load_state(state).explain(
            chain, feats, scores, rows, Rescorer(_refuse, stateless=True))
        np.testing.assert_allclose(found.values, terms - np.asarray(state["terms"]),
                                   rtol=1e-12)
        np.testing.assert_allclose(found.values.sum(axis=1),
                                   scores[rows] - np.sum(state["terms"]), rtol=1e-9)
    # median: the same as rescoring one feature at a time, since the score is row by row
    median = ReplaceExplainer("median", "single").fit(chain, feats)
    direct = median.explain(chain, feats, scores, rows, Rescorer(_refuse, stateless=True))
    rescored = median.explain(chain, feats, scores, rows,
                              Rescorer(chain.score_features, stateless=False))
    np.testing.assert_allclose(direct.values, rescored.values, rtol=1e-9, atol=1e-12)
    # a background fitted before terms were read is rescored, as it was then
    old = {k: v for k, v in explainer.fitted_state().items() if k != "terms"}
    calls = []
    ReplaceExplainer().load_state(old).explain(
        chain, feats, scores, rows,
        Rescorer(lambda f: calls.append(f.n_rows) or chain.score_features(f), stateless=True))
    assert calls
    assert ReplaceExplainer().fit(*_fitted_forest()[:2]).fitted_state()["terms"] is None


@pytest.mark.parametrize("name, model", [
    ("replace", None),
    ("forecast", ForecastDetector(window=4, smoothing=2, exogenous=["x*"])),
])
def test_the_built_in_explainers_keep_the_contract(name, model):
    entry = build_registry(load_entrypoints=False).get("explainer", name)
    check_explainer(entry.factory, {}, model=model)


@pytest.mark.skipif(not HAS_SHAP, reason="shap is not installed (pip install '.[explain]')")
def test_exact_shap_names_the_spiked_column_and_refuses_a_model_without_trees():
    entry = build_registry(load_entrypoints=False).get("explainer", "shap")
    check_explainer(entry.factory, {})
    columns = [f"c{i}" for i in range(5)]
    chain = Chain([], None, IForest(n_estimators=50, random_state=0))
    chain.fit(Frame(X=_correlated(800, 0), columns=columns))
    X = _correlated(60, 1)
    X[7, 2] += 40.0
    feats = chain.features(Frame(X=X, columns=columns))
    scores = chain.score_features(feats)
    found = entry.factory().fit(chain, feats).explain(
        chain, feats, scores, np.array([7]), Rescorer(chain.score_features, stateless=True))
    assert found.names[int(np.argmax(found.values[0]))] == "c2"
    config = PipelineConfig.from_dict({
        "loader": {"name": "synthetic", "n_samples": 300, "n_channels": 1},
        "model": {"name": "lof"}, "explain": {"explainer": "shap"}})
    with pytest.raises(ConfigError, match="explain.explainer: 'shap' explains tree"):
        Pipeline(config).run(persist=False)


def test_an_unknown_explainer_is_refused_before_any_data_is_read():
    config = PipelineConfig.from_dict({"explain": {"explainer": "replacer"}})
    with pytest.raises(ConfigError, match="explain.name: unknown explainer 'replacer'.*"
                                          "did you mean 'replace'"):
        Pipeline(config).run(persist=False)


# -- score --explain, on a tabular bundle and a channel bundle -------------------------------


def test_score_explain_adds_the_top_features_to_flagged_rows_only(tabular, tmp_path):
    bundle, path = tabular
    out = tmp_path / "scores.csv"
    assert main(["score", "--trusted", str(bundle.path), str(path), "--explain", "3",
                 "--output", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["row", "score", "threshold", "flag", *COLUMNS]
    flagged = df["flag"].to_numpy(dtype=bool)
    assert flagged[7] and 0 < flagged.sum() < len(df)
    assert df.loc[7, "explain_1_feature"] == "c2"
    assert df.loc[flagged, "explain_3_feature"].notna().all()
    assert np.isfinite(df.loc[flagged, "explain_1_contribution"]).all()
    # the first contribution is the largest
    assert (df.loc[flagged, "explain_1_contribution"]
            >= df.loc[flagged, "explain_2_contribution"]).all()
    assert df.loc[~flagged, COLUMNS].isna().all().all()  # not computed for unflagged rows
    everything = tmp_path / "all.csv"
    assert main(["score", "--trusted", str(bundle.path), str(path), "--explain", "2",
                 "--explain-all", "--output", str(everything)]) == 0
    assert pd.read_csv(everything)["explain_2_feature"].notna().all()


def test_explain_all_needs_explain(tabular, capsys):
    bundle, path = tabular
    assert main(["score", "--trusted", str(bundle.path), str(path), "--explain-all"]) == 2
    assert "--explain-all: only with --explain K" in capsys.readouterr().err


def test_score_explain_on_a_channel_bundle_says_observed_forecast_and_channels(
        channels, tmp_path):
    bundle, path = channels
    out = tmp_path / "alarms.csv"
    assert main(["score", "--trusted", str(bundle.path), str(path), "--explain", "3",
                 "--output", str(out), *OPTIONS]) == 0
    df = pd.read_csv(out)
    assert list(df.columns)[-len(COLUMNS) - 3:] == [*COLUMNS, "observed", "forecast",
                                                    "alarm_channels"]
    flagged = df["flag"].to_numpy(dtype=bool)
    assert flagged.any()
    # a flagged row crossed its threshold (explained), or post-processing bridged a gap to it
    crossed = flagged & (df["score"] > df["threshold"]).to_numpy()
    assert df.loc[crossed, "explain_1_feature"].notna().all()
    assert df.loc[~flagged, "explain_1_feature"].isna().all()
    assert df.loc[crossed, "observed"].notna().all() and df.loc[crossed, "forecast"].notna().all()
    inputs = set(bundle.explainers()["BUS-1"].inputs_)
    assert set(df.loc[crossed, "explain_1_feature"]) <= inputs
    # each flagged row's channel is among the channels alarming at its timestamp
    for _, row in df[flagged].iterrows():
        assert row["channel"] in row["alarm_channels"].split(";")
        same = df[(df["timestamp"] == row["timestamp"]) & flagged]
        assert sorted(row["alarm_channels"].split(";")) == sorted(same["channel"])


def test_forecast_contributions_add_up_to_the_forecast(channels):
    bundle, path = channels
    explainer = bundle.explainers()["BUS-2"]
    found = bundle.explained(str(path), rows=np.arange(300, 600), top=len(explainer.inputs_),
                             **CSV_OPTIONS)
    cols = found.explanations
    total = sum(np.nan_to_num(cols[f"explain_{k}_contribution"])
                for k in range(1, len(explainer.inputs_) + 1))
    rest = cols["forecast"] - total  # the forecast of the training means: one constant
    on = found.frame.channels == "BUS-2"
    np.testing.assert_allclose(rest[on], rest[on][0], rtol=1e-9, atol=1e-9)


def test_explanations_are_the_same_in_chunks_as_whole(channels):
    bundle, path = channels
    bundle.explainers()
    replace = ReplaceExplainer()
    whole = bundle.explained(str(path), rows=np.arange(0, 900, 7), top=3, **CSV_OPTIONS)
    chunked = bundle.explained(str(path), rows=np.arange(0, 900, 7), top=3, chunk_rows=64,
                               **CSV_OPTIONS)
    for name, values in whole.explanations.items():
        if values.dtype.kind == "U":
            assert np.array_equal(values, chunked.explanations[name]), name
        else:
            np.testing.assert_allclose(values, chunked.explanations[name], rtol=1e-9)
    assert (replace.reference, replace.method) == ("background", "pairwise")


def test_explanations_survive_a_saved_scoring_state(channels, tmp_path):
    from astraguard_train.training.scored import join_scored

    bundle, path = channels
    explain = bundle.explaining(3)
    whole = bundle.score(str(path), explain=explain, **CSV_OPTIONS)
    chunks = list(bundle.chunks(str(path), 120, check_values=True, **CSV_OPTIONS))
    scorer = bundle.stream(explain=explain)
    parts = list(bundle.score_stream(scorer, chunks[:4], n_jobs=1, flush=False))
    scorer.save(tmp_path / "state.npz")  # alarms held back keep their explanations
    again = bundle.stream(tmp_path / "state.npz", explain=explain)
    parts += list(bundle.score_stream(again, chunks[4:], n_jobs=1))
    joined = join_scored(parts)
    assert whole.flags.any()
    for name, values in whole.explanations.items():
        if values.dtype.kind == "U":
            assert np.array_equal(values, joined.explanations[name]), name
        else:
            np.testing.assert_allclose(values, joined.explanations[name], rtol=1e-9)


def test_the_replace_explainer_explains_a_stateful_forecaster(channels, tmp_path):
    """The default explainer rescores a forecaster's chunk once per feature from its state."""
    bundle, path = channels
    config = PipelineConfig.from_dict({
        **{k: v for k, v in bundle.manifest["config"].items()
           if k in ("loader", "split", "train", "transforms", "scaler", "model", "threshold",
                    "postprocess")},
        "explain": {"explainer": "replace"},
    })
    result = Pipeline(config).run(output=str(tmp_path))
    other = load_bundle(result.artifact, trusted=True)
    found = other.explained(str(path), top=6, **CSV_OPTIONS)
    crossed = found.scores > found.thresholds
    assert crossed.any()
    cols = found.explanations
    for k in range(1, 7):
        names, values = cols[f"explain_{k}_feature"][crossed], cols[f"explain_{k}_contribution"]
        # features the forecaster does not read cannot move its score
        outside = ~np.isin(names, ["voltage", "current", "temperature"])
        assert np.all(values[crossed][outside] == 0.0)
    assert np.any(cols["explain_1_contribution"][crossed] > 0)


# -- the explain command and the Python API ---------------------------------------------------


def test_explain_command_prints_and_writes_chosen_rows(tabular, tmp_path, capsys):
    bundle, path = tabular
    assert main(["explain", "--trusted", str(bundle.path), str(path), "--rows", "5-7",
                 "--top", "2"]) == 0
    printed = capsys.readouterr().out
    assert "row 7: score" in printed and "c2 +" in printed and "row 5: score" in printed
    out = tmp_path / "explained.jsonl"
    assert main(["explain", "--trusted", str(bundle.path), str(path), "--rows", "7",
                 "--output", str(out)]) == 0
    line = json.loads(out.read_text().splitlines()[0])
    assert line["row"] == 7 and line["explain_1_feature"] == "c2"


def test_the_python_api_returns_a_frame_of_the_flagged_rows(tabular):
    bundle, path = tabular
    df = bundle.explain(str(path), top=2)
    assert 7 in df["row"].tolist() and df["flag"].all()
    assert list(df.columns) == ["row", "score", "threshold", "flag", *COLUMNS[:4]]
    with pytest.raises(Exception, match="row\\(s\\) 999 were not scored"):
        bundle.explain(str(path), rows=[999])


def test_parse_rows():
    assert parse_rows("5, 10-12,5").tolist() == [5, 10, 11, 12]
    with pytest.raises(ConfigError, match="'x' is not a row number"):
        parse_rows("x")
    with pytest.raises(ConfigError, match="a range runs upwards"):
        parse_rows("9-3")


# -- a bundle without an explainer ------------------------------------------------------------


def test_a_bundle_without_an_explainer_scores_and_says_how_to_add_one(tmp_path, capsys):
    config = PipelineConfig.from_dict({
        "loader": {"name": "synthetic", "n_samples": 200, "n_channels": 1},
        "model": {"name": "iforest", "n_estimators": 10, "random_state": 0},
        "explain": {"explainer": "none"},
    })
    result = Pipeline(config).run(output=str(tmp_path))
    bundle = load_bundle(result.artifact, trusted=True)
    assert "explainer.json" not in bundle.manifest["files"]
    X = np.random.default_rng(0).normal(size=(20, len(bundle.input_features)))
    assert bundle.score(X).n_rows == 20
    with pytest.raises(NoExplainerError, match=r"retrain it with an \[explain\] table"):
        bundle.explain(X)
    data = tmp_path / "x.csv"
    pd.DataFrame(X, columns=bundle.input_features).to_csv(data, index=False)
    assert main(["score", "--trusted", result.artifact, str(data), "--explain", "3"]) == 1
    assert "holds no explainer" in capsys.readouterr().err


def test_a_bundle_written_before_explanations_loads_scores_and_says_how_to_explain(
        tabular, tmp_path):
    """A bundle as 0.1.0 wrote it: no explainer.json, no ``explainer`` manifest key, no
    ``[explain]`` table in its config."""
    import shutil

    bundle, path = tabular
    old = tmp_path / "1"
    shutil.copytree(bundle.path, old)
    (old / "explainer.json").unlink()

    def as_before(manifest):
        del manifest["files"]["explainer.json"], manifest["explainer"]
        del manifest["config"]["explain"]
        manifest["plugins"].pop("explain")

    rewrite_manifest(old, as_before)
    loaded = load_bundle(old, trusted=True)
    np.testing.assert_array_equal(loaded.score(str(path)).scores,
                                  bundle.score(str(path)).scores)
    with pytest.raises(NoExplainerError, match=r'\[explain\] explainer = "replace"'):
        loaded.explain(str(path))


# -- the report: explanations beside each alarm -------------------------------------------------


def test_the_report_shows_each_alarms_top_features(channels):
    pytest.importorskip("plotly", reason="the report needs plotly (the report extra)")
    from astraguard_train.bundle.evaluation import load_evaluation
    from astraguard_train.report import from_bundle, render

    bundle, _ = channels
    kept = load_evaluation(bundle.path, bundle.manifest)
    assert kept.why is not None
    assert (kept.why[kept.flags & (kept.scores > kept.thresholds)] != "").all()
    assert (kept.why[~kept.flags] == "").all()
    data = from_bundle(bundle.path)
    tables = [t for t in (data.events, data.false_alarms) if t is not None and t.n]
    assert tables
    inputs = bundle.explainers()["BUS-1"].inputs_
    for table in tables:
        shown = [w for w in table.why if w]
        assert shown and all(w.split(" ")[0] in inputs for w in shown)
    html = render(data)
    assert "why: top features at the alarm&#x27;s peak" in html or \
        "why: top features at the alarm's peak" in html


def test_evaluation_keeps_only_the_explained_rows_text_and_reads_a_text_per_row(tmp_path):
    from astraguard_train.bundle.evaluation import Evaluation

    why = np.array(["", "c2 +0.31; c5 +0.12", "", "", "c1 -0.2", ""])
    rows = np.flatnonzero(why != "")
    ev = Evaluation(index=np.arange(6), scores=np.linspace(0, 1, 6), thresholds=np.full(6, 0.5),
                    flags=why != "", why_rows=rows, why_text=why[rows])
    ev.save(tmp_path / "new.npz")
    with np.load(tmp_path / "new.npz") as z:
        assert "why" not in z.files and z["why_text"].tolist() == why[rows].tolist()
    np.testing.assert_array_equal(Evaluation.load(tmp_path / "new.npz").why, why)
    # a file written with one text per row (as bundles were before) reads the same
    np.savez_compressed(tmp_path / "old.npz", index=ev.index, scores=ev.scores,
                        thresholds=ev.thresholds, flags=ev.flags, why=why)
    np.testing.assert_array_equal(Evaluation.load(tmp_path / "old.npz").why, why)


def test_an_updated_bundle_keeps_its_parents_explainer(tabular, tmp_path):
    import shutil

    from astraguard_train import update_bundle

    bundle, path = tabular
    store = tmp_path / "detector"
    shutil.copytree(bundle.path, store / "1")
    done = update_bundle(store, _correlated(200, 3), trusted=True)
    updated = load_bundle(done.path, trusted=True)
    assert updated.manifest["explainer"] == "replace"
    assert (updated.path / "explainer.json").read_bytes() == (
        bundle.path / "explainer.json").read_bytes()
    assert updated.explain(str(path), rows=[7], top=1)["explain_1_feature"].tolist() == ["c2"]


def test_a_limit_keeps_the_widest_threshold_crossings():
    from astraguard_train.explain.request import Explaining

    scores = np.array([5.0, 0.1, 9.0, 3.0, 7.0, 2.5])
    thresholds = np.full(6, 2.0)
    positions = np.arange(6)
    assert Explaining({}, limit=None).wanted(scores, thresholds, positions).tolist() == [
        0, 2, 3, 4, 5]
    assert Explaining({}, limit=2).wanted(scores, thresholds, positions).tolist() == [2, 4]


def test_a_run_explains_its_strongest_alarms_and_counts_the_rest(tmp_path, monkeypatch):
    from astraguard_train.bundle.evaluation import load_evaluation
    from astraguard_train.training import pipeline

    monkeypatch.setattr(pipeline, "EXPLAIN_LIMIT", 3)
    config = PipelineConfig.from_dict({
        "split": {"strategy": "random", "test_size": 0.5},
        "model": {"name": "iforest", "n_estimators": 20, "random_state": 0},
        "threshold": {"name": "contamination", "contamination": 0.1},
    })
    frame = Frame(X=_correlated(600, 2), columns=[f"c{i}" for i in range(5)])
    result = Pipeline(config).run(data=frame, output=str(tmp_path))
    bundle = load_bundle(result.artifact, trusted=True)
    kept = load_evaluation(bundle.path, bundle.manifest)
    explained = kept.why != ""
    assert explained.sum() == 3
    assert kept.flags.sum() > 3
    margin = kept.scores - kept.thresholds
    alarms = kept.flags & (margin > 0)
    assert result.counts["test_alarm_rows_not_explained"] == alarms.sum() - 3
    assert margin[explained].min() >= margin[alarms & ~explained].max()
