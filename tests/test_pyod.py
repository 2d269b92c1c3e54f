"""PyOD detectors: listed from a table without importing PyOD, wrapped to keep the detector
contract; the table checked against the installed PyOD."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone

from astraguard_train.config import PipelineConfig
from astraguard_train.errors import ConfigError
from astraguard_train.models import pyod as pyod_models
from astraguard_train.plugins import build_registry
from astraguard_train.training.pipeline import Pipeline

pytest.importorskip("pyod")


def _clear_caches() -> None:
    pyod_models.discover.cache_clear()
    pyod_models.wrappers.cache_clear()
    pyod_models._installed.cache_clear()


def test_classic_pyod_detectors_are_registered(registry):
    names = registry.names("model")
    for name in ("pyod.ecod", "pyod.copod", "pyod.hbos", "pyod.knn", "pyod.iforest", "pyod.lof"):
        assert name in names
    pyod_names = [n for n in names if n.startswith("pyod.")]
    assert all(n == n.lower() for n in pyod_names)
    assert len(pyod_names) >= 20


def test_left_out_detectors_are_absent_for_a_stated_reason(registry):
    names = set(registry.names("model"))
    for cls, reason in pyod_models.EXCLUDED.items():
        assert f"pyod.{cls.lower()}" not in names
        assert reason
    # needs a list of detectors (not expressible in TOML); deep learning needs torch
    assert "pyod.lscp" not in names
    has_torch = subprocess.run(
        [sys.executable, "-c", "import torch"], capture_output=True
    ).returncode == 0
    if not has_torch:
        assert "pyod.autoencoder" not in names and "pyod.deepsvdd" not in names


def test_without_pyod_nothing_breaks_and_the_names_are_absent(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyod", None)  # `import pyod` now fails
    _clear_caches()
    try:
        registry = build_registry()
        assert not [n for n in registry.names("model") if n.startswith("pyod.")]
        assert {"iforest", "lof", "ocsvm", "ocsvm_sgd"} <= set(registry.names("model"))
        assert not registry.broken or all("pyod" not in b.name for b in registry.broken)
    finally:
        monkeypatch.undo()
        _clear_caches()
    assert build_registry().has("model", "pyod.ecod")


def test_wrapper_has_pyods_signature_and_clones(registry):
    entry = registry.get("model", "pyod.knn")
    assert entry.params["n_neighbors"] == 5 and entry.params["method"] == "largest"
    det = entry.factory(n_neighbors=7)
    assert det.get_params()["n_neighbors"] == 7
    assert clone(det).get_params() == det.get_params()
    with pytest.raises(TypeError):
        entry.factory(n_neighbours=7)


def test_unknown_and_invalid_parameters_are_config_errors(registry):
    config = PipelineConfig.from_dict({"model": {"name": "pyod.knn", "k": 3}})
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) k .*accepted:.*n_neighbors"):
        config.check(registry)
    X = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.raises(ConfigError, match=r"model\.n_neighbors"):
        registry.create("model", "pyod.knn", {"n_neighbors": 0}).fit(X)
    with pytest.raises(ConfigError, match=r"model\.contamination"):
        registry.create("model", "pyod.ecod", {"contamination": 0.9}).fit(X)


def test_training_scores_come_from_pyod_not_a_second_pass(registry):
    config = PipelineConfig.from_dict(
        {"loader": {"name": "synthetic", "n_samples": 300, "n_channels": 1},
         "model": {"name": "pyod.ecod"}}
    )
    pipe = Pipeline(config, registry)
    result = pipe.run(persist=False)
    assert result.ok
    chain = pipe.detector.chains[None]
    assert np.array_equal(chain.train_scores_, chain.model.estimator_.decision_scores_)
    assert result.metrics["roc_auc"] > 0.5


def test_fresh_process_builds_registry_without_pyod_and_loads_a_pickled_wrapper(
    registry, tmp_path
):
    X = np.random.default_rng(0).normal(size=(80, 3))
    det = registry.create("model", "pyod.copod").fit(X)
    path = tmp_path / "det.pkl"
    path.write_bytes(pickle.dumps(det))
    # one interpreter for both checks: starting one costs more than either check
    code = (
        "import pickle, sys, numpy as np; from astraguard_train.plugins import build_registry;"
        "r = build_registry(); assert r.has('model', 'pyod.ecod');"
        "print('pyod' in sys.modules or 'torch' in sys.modules);"
        f"d = pickle.loads(open({str(path)!r}, 'rb').read());"
        "print(type(d).__name__, float(d.score_samples(np.full((1, 3), 5.0))[0]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    imported, loaded = out.stdout.splitlines()[-2:]
    assert imported == "False"  # registering PyOD's detectors imported neither PyOD nor torch
    name, score = loaded.split()
    assert name == "PyOD_COPOD"
    assert np.isclose(float(score), det.score_samples(np.full((1, 3), 5.0))[0])


def test_plugins_command_lists_pyod_detectors(capsys):
    from astraguard_train.cli import main

    assert main(["plugins", "--kind", "model"]) == 0
    out = capsys.readouterr().out
    assert "pyod.ecod" in out and "PyOD ECOD" in out


def test_the_table_matches_the_installed_pyods_classes_and_signatures():
    from astraguard_train.models.pyod_table import DETECTORS

    checked = 0
    for spec in DETECTORS:
        if not all(pyod_models._installed(top) for top in spec.requires):
            continue
        cls = getattr(importlib.import_module(spec.module), spec.cls)
        params = inspect.signature(cls.__init__).parameters
        actual = tuple(
            (n, p.default) for n, p in params.items() if n != "self" and p.kind != p.VAR_KEYWORD
        )
        expected = tuple(
            (n, v) for n, v in spec.params if v is not pyod_models.PYOD_DEFAULT
        )
        assert [n for n, _ in actual] == [n for n, _ in spec.params], spec.cls
        assert all(dict(actual)[n] == v for n, v in expected), spec.cls
        checked += 1
    assert checked == len(pyod_models.discover())


def test_every_usable_detector_of_the_installed_pyod_is_in_the_table_or_excluded():
    from pyod.models.base import BaseDetector

    from astraguard_train.models.pyod_table import DETECTORS

    listed = {spec.cls for spec in DETECTORS} | set(pyod_models.EXCLUDED)
    import pyod.models

    missing = []
    for info in pkgutil.iter_modules(pyod.models.__path__):
        if info.name.startswith(("_", "ts_", "base")):
            continue
        try:
            module = importlib.import_module(f"pyod.models.{info.name}")
        except ImportError:  # needs an optional package that is absent: not registered
            continue
        for name, cls in vars(module).items():
            if not (inspect.isclass(cls) and cls.__module__ == module.__name__):
                continue
            if not issubclass(cls, BaseDetector) or name.startswith(("_", "Base")):
                continue
            params = inspect.signature(cls.__init__).parameters.values()
            required = [p for p in params if p.default is p.empty and p.name != "self"
                        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            if not required and name not in listed:
                missing.append(name)
    assert missing == [], f"PyOD detectors neither in the table nor EXCLUDED: {missing}"


def test_a_detector_needing_an_absent_package_is_left_out(monkeypatch):
    from astraguard_train.models.pyod_table import DETECTORS

    deep = next(s for s in DETECTORS if s.requires == ("torch", "tqdm"))
    _clear_caches()
    try:
        monkeypatch.setattr(pyod_models, "_installed", lambda top: top != "torch")
        assert deep not in pyod_models.discover.__wrapped__()
        monkeypatch.setattr(pyod_models, "_installed", lambda top: True)
        found = pyod_models.discover.__wrapped__()
        assert deep in found
        assert not {s.cls for s in found} & set(pyod_models.EXCLUDED)
    finally:
        monkeypatch.undo()
        _clear_caches()


def _skewed(n: int, seed: int) -> np.ndarray:
    """Columns skewed right, left and right again (clearly: one row cannot flip a sign)."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.exponential(size=n), -rng.gamma(2.0, size=n),
                            np.round(rng.lognormal(size=n), 1)])  # the last with ties


@pytest.mark.parametrize("name", ["pyod.ecod", "pyod.copod"])
def test_ecod_and_copod_score_each_row_as_pyod_scores_it_alone(registry, name):
    train, rows = _skewed(400, 0), _skewed(30, 1) * 1.5
    rows[0] = [50.0, -50.0, 0.0]  # beyond the training values on both sides
    det = registry.create("model", name, {}).fit(train)
    pyod_alone = np.array([clone(det)._build().fit(train).decision_function(r[None])[0]
                           for r in rows])
    scores = det.score_samples(rows)
    np.testing.assert_allclose(scores, pyod_alone, rtol=1e-12)
    # PyOD's own batch scores depend on the batch; ours do not
    np.testing.assert_array_equal(np.concatenate([det.score_samples(rows[:7]),
                                                  det.score_samples(rows[7:])]), scores)
    assert not np.allclose(det.estimator_.decision_function(rows), scores)
    # the score is a sum of per-feature terms, exactly
    terms = det.score_terms(rows)
    assert terms.shape == rows.shape
    np.testing.assert_allclose(terms.sum(axis=1), scores, rtol=1e-12)
    # training scores stay PyOD's (the training rows against themselves)
    assert np.array_equal(det.train_scores_, det.estimator_.decision_scores_)
    again = pickle.loads(pickle.dumps(det))
    assert "_tails" not in again.__dict__  # rebuilt from the training rows, not pickled
    np.testing.assert_array_equal(again.score_terms(rows), terms)


def test_a_refit_tail_detector_scores_against_its_new_training_rows(registry):
    det = registry.create("model", "pyod.ecod", {})
    row = np.array([[3.0, -3.0, 3.0]])
    first = det.fit(_skewed(300, 2)).score_samples(row)
    second = det.fit(_skewed(300, 3) * 4.0).score_samples(row)
    np.testing.assert_allclose(second, clone(det).fit(_skewed(300, 3) * 4.0).score_samples(row))
    assert not np.allclose(first, second)


def test_a_missing_value_gives_a_nan_score_that_the_chain_reports(registry):
    from astraguard_train.data.frame import Frame
    from astraguard_train.errors import DataError
    from astraguard_train.training.detector import Chain

    columns = ("a", "b", "c")
    chain = Chain([], None, registry.create("model", "pyod.ecod", {}))
    chain.fit(Frame(X=_skewed(100, 4), columns=columns))
    rows = _skewed(5, 5)
    rows[3, 1] = np.nan
    with pytest.raises(DataError, match="NaN scores for 1 rows"):
        chain.score_features(Frame(X=rows, columns=columns))
