"""The plugin contracts (``plugins/contracts.py``) and the conformance checks that enforce them:
every built-in keeps its kind's contract, and a bad plugin of each kind is rejected with a
message naming the rule it broke."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from astraguard_train.data.frame import Frame
from astraguard_train.errors import ConformanceError, PluginError
from astraguard_train.features.derived import CompositeScore, GyroIntensity, VoltageTemperatureRatio
from astraguard_train.features.temporal import Rolling
from astraguard_train.plugins import build_registry, contracts
from astraguard_train.plugins.conformance import (
    CHECKS,
    _series_frame,
    check_detector,
    check_loader,
    check_metric,
    check_persister,
    check_threshold,
    check_threshold_rule,
    check_transform,
    quick_params,
)
from astraguard_train.plugins.hookspecs import hookimpl
from astraguard_train.plugins.registry import KIND_HOOKS
from astraguard_train.timeseries.dynamic_threshold import DynamicRule, DynamicThreshold
from astraguard_train.timeseries.forecast import ForecastDetector


@pytest.fixture(scope="module")
def builtins():
    return build_registry(load_entrypoints=False)


# -- one contract and one check per kind -------------------------------------------------------


def test_every_kind_has_a_contract_and_a_check():
    assert set(contracts.CONTRACTS) == set(KIND_HOOKS)
    assert set(contracts.CAPABILITIES) == set(KIND_HOOKS)
    assert set(CHECKS) == set(KIND_HOOKS)


def test_every_contract_says_what_each_member_returns():
    for contract in [*contracts.CONTRACTS.values(), *sum(contracts.CAPABILITIES.values(), ())]:
        assert contract.__doc__, contract
        for name in contracts.members(contract):
            member = getattr(contract, name, None)
            if callable(member):
                assert member.__doc__, f"{contract.__name__}.{name} has no docstring"


def test_every_builtin_keeps_its_kind_contract(builtins):
    for entry in builtins.entries():
        params = quick_params(entry)
        if entry.kind == "threshold" and entry.name == "fixed":
            params = {"value": 1.0}
        built = entry.factory(**params)
        assert isinstance(built, contracts.CONTRACTS[entry.kind]), (entry.kind, entry.name)


# -- capabilities: keeps() answers as isinstance does, looking methods up once per class ---------


def _capable_objects(builtins):
    """Every built-in, built; and fitted where its capabilities' attributes come with fit."""
    objects = []
    for entry in builtins.entries():
        params = quick_params(entry)
        if entry.kind == "threshold" and entry.name == "fixed":
            params = {"value": 1.0}
        objects.append((entry.kind, entry.factory(**params)))
    objects.append(("model", ForecastDetector(window=5, smoothing=3).fit_frame(_series_frame(80))))
    objects.append(("threshold", _dynamic_rule()))
    objects.append(("threshold", 1.5))
    return objects


def test_keeps_answers_as_isinstance_for_every_builtin_and_capability(builtins):
    protocols = {p for caps in contracts.CAPABILITIES.values() for p in caps}
    protocols |= {*contracts.CONTRACTS.values(), contracts.ThresholdRule, contracts.StreamingRule,
                  contracts.UpdatableRule, contracts.LearnsVerdicts}
    seen = {True: 0, False: 0}
    for kind, obj in _capable_objects(builtins):
        for protocol in protocols:
            expected = isinstance(obj, protocol)
            assert contracts.keeps(obj, protocol) is expected, (kind, obj, protocol.__name__)
            seen[expected] += 1
    assert seen[True] > 20 and seen[False] > 100  # both answers were asked for


class _Explains:
    def choose(self, context):
        self.info_ = {"chose": 1.0}
        return 1.0


class _FrameMethodsBlocked(ForecastDetector):
    fit_frame = None  # a subclass that opts out of a capability, as isinstance allows


def test_keeps_reads_attributes_from_the_object_and_methods_from_its_class():
    strategy = _Explains()
    assert not contracts.keeps(strategy, contracts.ExplainsChoice)  # no info_ before choose
    strategy.choose(None)
    assert contracts.keeps(strategy, contracts.ExplainsChoice)  # the class's answer not reused
    assert contracts.choice_info(strategy) == {"chose": 1.0}
    assert not contracts.keeps(_Explains(), contracts.ExplainsChoice)
    blocked = _FrameMethodsBlocked()
    assert not isinstance(blocked, contracts.FrameDetector)
    assert not contracts.keeps(blocked, contracts.FrameDetector)
    assert contracts.keeps(ForecastDetector(), contracts.FrameDetector)


def test_keeps_asks_a_class_about_its_own_attributes():
    # a registry's factories are classes: label-using models are listed without building one
    from astraguard_train.models.supervised import StackedDetector

    assert contracts.uses_labels(StackedDetector)
    assert not contracts.uses_labels(ForecastDetector)


# -- built-ins pass their checks ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["contamination", "best_f1", "max_false_alarm_rate", "dynamic"])
def test_builtin_threshold_strategies_pass(builtins, name):
    check_threshold(builtins.get("threshold", name).factory)


def test_fixed_threshold_passes(builtins):
    check_threshold(builtins.get("threshold", "fixed").factory, {"value": 0.3})


@pytest.mark.parametrize("name", ["classification", "ranking", "events"])
def test_builtin_metrics_pass(builtins, name):
    check_metric(builtins.get("metric", name).factory)


@pytest.mark.parametrize("name", ["joblib", "skops"])
def test_builtin_persisters_pass(builtins, name):
    if name == "skops":
        pytest.importorskip("skops", reason="the skops persister needs skops installed")
    check_persister(builtins.get("persister", name).factory)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("rolling", {"window": 8}),
        ("rolling", {"window": "5s", "warmup": "drop"}),
        ("lag", {"lags": [1, 3]}),
        ("diff", {}),
        ("rate", {}),
        ("ewma", {"span": 4}),
        ("pca", {}),
        ("variance", {}),
    ],
)
def test_builtin_transforms_pass(builtins, name, params):
    check_transform(builtins.get("transform", name).factory, params)


@pytest.mark.parametrize(
    ("factory", "params"),
    [
        (GyroIntensity, {"columns": ["x0", "x1", "x2"]}),
        (VoltageTemperatureRatio, {"voltage": "x0", "temperature": "x1"}),
        (CompositeScore, {"weights": {"x0": 1.0, "x2": 0.5}}),
    ],
)
def test_derived_transforms_pass(factory, params):
    check_transform(factory, params)


def _write(tmp_path: Path, frame: Frame) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ts = [str(t) for t in frame.timestamps]
    rows = [
        {"timestamp": t, "channel": str(c), **dict(zip(frame.columns, map(float, x), strict=True))}
        for t, c, x in zip(ts, frame.channels, frame.X, strict=True)
    ]
    paths = {"csv": tmp_path / "t.csv", "jsonl": tmp_path / "t.jsonl",
             "json": tmp_path / "t.json", "parquet": tmp_path / "t.parquet"}
    header = ",".join(rows[0])
    paths["csv"].write_text(
        header + "\n" + "\n".join(",".join(map(str, r.values())) for r in rows) + "\n"
    )
    paths["jsonl"].write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    paths["json"].write_text(json.dumps(rows))
    pq.write_table(pa.Table.from_pylist(rows), paths["parquet"])
    return paths


def test_builtin_loaders_pass(builtins, tmp_path):
    paths = _write(tmp_path, _series_frame(40))
    roles = {"timestamp_column": "timestamp", "channel_column": "channel"}
    for name, path in paths.items():
        check_loader(builtins.get("loader", name).factory, {"path": str(path), **roles}, rows=7)
    check_loader(builtins.get("loader", "synthetic").factory, {"n_samples": 300})
    records = [{"a": float(i), "b": 2.0 * i} for i in range(10)]
    check_loader(builtins.get("loader", "records").factory, source=records)


def test_forecast_declares_its_lags_and_smoothing_as_lookback():
    det = ForecastDetector(window=5, horizon=2, smoothing=3)
    rows, seconds = det.lookback()
    alpha = 2 / 4
    # the lags (window + horizon - 1) plus the rows after which the EWMA forgot the start
    assert seconds == 0.0
    assert (1 - alpha) ** (rows - 6) < 1e-12 <= (1 - alpha) ** (rows - 7)
    # 120 rows per channel: a later half that needs less than all of the earlier one
    params = {"window": 5, "horizon": 2, "smoothing": 3, "exogenous": ["x1"]}
    check_detector(ForecastDetector, params, n_rows=120)


class _ForecastForgetful(ForecastDetector):
    def score_stream(self, frame, state):  # carries state, but drops it at every chunk
        return super().score_stream(frame, self.init_state())


def test_forecast_without_its_state_would_be_rejected():
    with pytest.raises(ConformanceError, match="carried state does not carry"):
        check_detector(_ForecastForgetful, {"window": 5, "smoothing": 3}, n_rows=120)


def test_an_ensemble_fits_members_on_frames_and_declares_their_longest_lookback():
    from astraguard_train.models.ensemble import EnsembleDetector

    members = [{"name": "forecast", "window": 5, "smoothing": 3},
               {"name": "iforest", "n_estimators": 10}]
    frame = _series_frame(80)
    ensemble = EnsembleDetector(members=members).fit_frame(frame)
    assert ensemble.lookback() == ensemble.members_[0].lookback()
    assert ensemble.members_[0].columns_ == frame.columns  # the forecaster saw the frame
    check_detector(EnsembleDetector, {"members": members}, n_rows=120)


# -- the dynamic rule carries its window across chunks -----------------------------------------


def _dynamic_rule() -> DynamicRule:
    rng = np.random.default_rng(0)
    context = SimpleNamespace(train_scores=np.abs(rng.normal(size=300)), train_frame=None)
    return DynamicThreshold(window=60, step=7).choose(context)


def test_dynamic_rule_applied_in_chunks_equals_applied_whole():
    rule = _dynamic_rule()
    frame = _series_frame(200, 1)
    scores = np.abs(np.random.default_rng(1).normal(size=frame.n_rows))
    scores[::41] += 9.0
    whole = rule.apply(scores, frame)
    state, parts = rule.init_state(), []
    for cut in (slice(0, 101), slice(101, 102), slice(102, 333), slice(333, None)):
        got, state = rule.apply_stream(scores[cut], frame.take(cut), state)
        state = pickle.loads(pickle.dumps(state))  # a scorer may save it between chunks
        parts.append(got)
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert set(state) == {"x", "y"}  # one entry per channel, to save or restore alone
    check_threshold_rule(rule)


def test_dynamic_rule_leaves_the_given_state_alone():
    rule = _dynamic_rule()
    frame = _series_frame(50, 2)
    scores = np.abs(np.random.default_rng(2).normal(size=frame.n_rows))
    first, state = rule.apply_stream(scores, frame, rule.init_state())
    before = pickle.dumps(state)
    rule.apply_stream(scores, frame, state)
    assert pickle.dumps(state) == before


# -- a bad plugin of each kind is rejected, naming the rule -------------------------------------


class _PastMean(BaseEstimator):
    """Scores each row by its distance to the mean of the ``k`` rows before it (of X)."""

    k = 6

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def score_samples(self, X):
        if not hasattr(self, "fitted_"):
            raise AttributeError("not fitted")
        X = np.asarray(X, dtype=np.float64)
        c = np.vstack([np.zeros((1, X.shape[1])), np.cumsum(X, axis=0)])
        i = np.arange(len(X))
        lo = np.maximum(i - self.k, 0)
        mean = (c[i] - c[lo]) / np.maximum(i - lo, 1)[:, None]
        return np.abs(X - mean).max(axis=1)


class _PastMeanDeclared(_PastMean):
    def lookback(self):
        return self.k, 0.0  # per channel: the series interleaves two, so 2k rows of X


class _BatchCentred(_PastMean):
    def score_samples(self, X):
        super().score_samples(X)
        X = np.asarray(X, dtype=np.float64)
        return np.abs(X - X.mean(axis=0)).max(axis=1)


class _Streaming(_PastMean):
    """The running mean of every earlier row of its channel, carried in state."""

    def score_samples(self, X):
        return self.score_stream(Frame(X=np.asarray(X), columns=[f"x{i}" for i in
                                                                  range(np.shape(X)[1])]), {})[0]

    def score_frame(self, frame):
        return self.score_stream(frame, self.init_state())[0]

    def fit_frame(self, frame):
        return self.fit(frame.X)

    def init_state(self):
        return {}

    def score_stream(self, frame, state):
        if not hasattr(self, "fitted_"):
            raise AttributeError("not fitted")
        after = dict(state)
        out = np.empty(frame.n_rows)
        channels = frame.channels if frame.channels is not None else [None] * frame.n_rows
        for i, (ch, x) in enumerate(zip(channels, frame.X, strict=True)):
            total, n = after.get(ch, (np.zeros(frame.n_features), 0))
            out[i] = np.abs(x - (total / n if n else 0.0)).max()
            after[ch] = (total + x, n + 1)
        return out, after


class _StreamingForgetful(_Streaming):
    def score_stream(self, frame, state):
        return super().score_stream(frame, {})


def test_a_detector_with_hidden_history_is_rejected():
    with pytest.raises(ConformanceError, match="depends on earlier rows.*declares no lookback"):
        check_detector(_PastMean)


def test_a_detector_declaring_its_history_passes():
    check_detector(_PastMeanDeclared)


def test_a_detector_scoring_rows_by_their_batch_is_rejected():
    with pytest.raises(ConformanceError, match="depends on the rows processed with it"):
        check_detector(_BatchCentred)


def test_a_detector_carrying_state_passes_and_one_dropping_it_is_rejected():
    check_detector(_Streaming)
    with pytest.raises(ConformanceError, match="carried state does not carry"):
        check_detector(_StreamingForgetful)


class _CumulativeRule:
    """A per-row threshold that restarts at every call: the running mean of the scores."""

    value = 1.0

    def apply(self, scores, frame):
        return 1.0 + np.cumsum(scores) / np.arange(1, len(scores) + 1)


def test_a_rule_that_restarts_its_history_at_every_chunk_is_rejected():
    with pytest.raises(ConformanceError, match="restart its history.*StreamingRule"):
        check_threshold_rule(_CumulativeRule())


class _SaysItNeedsNoTrainScores:
    needs_train_scores = False

    def choose(self, context):
        return float(np.quantile(context.train_scores, 0.9))


class _ReturnsText:
    def choose(self, context):
        return "high"


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (_SaysItNeedsNoTrainScores, "needs_train_scores = False, but choose"),
        (_ReturnsText, "expected a finite float or a ThresholdRule"),
    ],
)
def test_bad_threshold_strategies_are_rejected(factory, message):
    with pytest.raises(ConformanceError, match=message):
        check_threshold(factory)


def test_bad_metrics_are_rejected():
    def needs_labels():
        return lambda y, scores, flags, frame: {"hits": int((y * flags).sum())}

    def not_a_dict():
        return lambda y, scores, flags, frame: 0.5

    def sorts_in_place():
        def metric(y, scores, flags, frame):
            scores.sort()
            return {}

        return metric

    with pytest.raises(TypeError):  # crashes on unlabelled data instead of returning {}
        check_metric(needs_labels)
    with pytest.raises(ConformanceError, match="expected a dict of name -> figure"):
        check_metric(not_a_dict)
    with pytest.raises(ConformanceError, match="modified its arguments"):
        check_metric(sorts_in_place)


class _NoSuffix:
    def dump(self, obj, path):
        Path(path).write_bytes(pickle.dumps(obj))

    def load(self, path, trusted=False):
        return pickle.loads(Path(path).read_bytes())


class _BadSuffix(_NoSuffix):
    suffix = "pkl"


class _Lossy(_NoSuffix):
    suffix = ".pkl"

    def load(self, path, trusted=False):
        detector = super().load(path)
        forest = detector.chains[None].model.estimator_
        forest.estimators_ = forest.estimators_[:2]  # trees lost on the way
        return detector


def test_bad_persisters_are_rejected():
    with pytest.raises(ConformanceError, match=r"persister contract \(Persister\).*suffix"):
        check_persister(_NoSuffix)
    with pytest.raises(ConformanceError, match="expected a file extension"):
        check_persister(_BadSuffix)
    with pytest.raises(ConformanceError, match="scores differently from the one dumped"):
        check_persister(_Lossy)


class _ChunksDisagree:
    def __init__(self, n=30):
        self.n = n

    def load(self, source=None):
        return _series_frame(self.n)

    def iter_chunks(self, rows, source=None):
        frame = self.load()
        for start in range(0, frame.n_rows, rows):
            part = frame.take(slice(start, start + rows))
            yield Frame(X=part.X, columns=part.columns)  # loses index, timestamps, channels


def test_a_loader_whose_chunks_differ_from_its_load_is_rejected():
    with pytest.raises(ConformanceError, match="iter_chunks: the chunks' index differ"):
        check_loader(_ChunksDisagree)


def test_a_transform_with_hidden_history_is_rejected():
    class NoLookback(Rolling):
        def lookback(self):
            return 0, 0.0

    class Centred(Rolling):
        def transform(self, frame):
            out = super().transform(frame)
            return out.with_features(out.X - out.X.mean(axis=0), out.columns)

    with pytest.raises(ConformanceError, match="declares no lookback"):
        check_transform(NoLookback, {"window": 5})
    with pytest.raises(ConformanceError, match="depends on the rows processed with it"):
        check_transform(Centred, {"window": 5})


# -- the registry holds plugins to their contract ------------------------------------------------


class _NoScores(BaseEstimator):
    def fit(self, X, y=None):
        return self


class _Plugin:
    @hookimpl
    def register_models(self, register):
        register("no_scores", _NoScores)


def test_the_registry_refuses_an_object_that_breaks_its_contract():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = build_registry(load_entrypoints=False, plugins=[_Plugin()])
    with pytest.raises(PluginError, match=r"_NoScores does not keep the model contract "
                                          r"\(Detector\): it lacks score_samples"):
        registry.create("model", "no_scores", where="model")
