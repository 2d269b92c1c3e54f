"""Conformance checks for plugin authors, in the spirit of scikit-learn's ``check_estimator``.

::

    from astraguard_train.testing import check_detector

    def test_my_detector_keeps_the_contract():
        check_detector(MyDetector, {"window": 5})

Each check raises :class:`~astraguard_train.errors.ConformanceError` (an ``AssertionError``)
naming the plugin and the rule it broke, so it reads well as a failing test. A factory that
needs parameters to be built can say which through a ``get_test_params()`` classmethod
returning a dict (used by :func:`check_registered_models` for every registered model).
"""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import numpy as np

from ..data.frame import Frame
from ..errors import ConformanceError

Factory = Callable[..., Any]

#: the planted outlier's value in every feature, in units of the inliers' standard deviation
OUTLIER = 8.0


def _name(factory: Factory) -> str:
    return getattr(factory, "__name__", None) or type(factory).__name__


def _fail(factory: Factory, rule: str) -> NoReturn:
    raise ConformanceError(f"{_name(factory)}: {rule}")


def _planted(n_rows: int, n_features: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Training rows (row 0 planted far out) and test rows (the middle one planted far out on
    the other side, so that it has no twin among the training rows)."""
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(n_rows, n_features))
    train[0] = OUTLIER
    test = rng.normal(size=(41, n_features))
    test[20] = -OUTLIER
    return train, test, 20


def _check_params(factory: Factory, params: Mapping[str, Any]) -> Any:
    """Build twice; ``get_params`` must echo ``params`` and ``clone`` must round-trip."""
    from sklearn.base import clone

    obj = factory(**params)
    get = getattr(obj, "get_params", None)
    if get is None:
        _fail(factory, "has no get_params(); derive from sklearn.base.BaseEstimator")
    got = get(deep=False)
    for key, value in params.items():
        if key not in got or got[key] is not value and got[key] != value:
            _fail(factory, f"get_params()['{key}'] is {got.get(key)!r}, expected {value!r}: "
                           f"__init__ must store each parameter unchanged under its own name")
    fitted = [a for a in vars(obj) if a.endswith("_") and not a.startswith("_")]
    if fitted:
        _fail(factory, f"__init__ sets fitted attribute(s) {', '.join(fitted)}; only fit may")
    try:
        twin = clone(obj)
    except Exception as exc:  # any failure here is the finding
        _fail(factory, f"sklearn.base.clone failed: {exc!r}")
    if set(twin.get_params(deep=False)) != set(got):
        _fail(factory, "clone() changed the parameter names")
    return obj


def check_detector(
    factory: Factory,
    params: Mapping[str, Any] | None = None,
    *,
    n_rows: int = 60,
    n_features: int = 4,
    seed: int = 0,
) -> None:
    """Check that ``factory(**params)`` keeps the detector contract.

    Checks: ``get_params``/``clone`` echo the parameters and ``__init__`` fits nothing;
    scoring before ``fit`` raises; ``fit(X)`` returns ``self``; ``score_samples`` returns one
    finite float per row; a planted outlier scores above the inliers' median;
    ``train_scores_`` (when the detector keeps them) rank the training rows as
    ``score_samples`` does; a pickle round trip scores the same; with ``random_state`` set,
    two fits score the same.

    :raises ConformanceError: naming the detector and the rule broken.
    """
    params = dict(params or {})
    train, test, planted = _planted(n_rows, n_features, seed)
    det = _check_params(factory, params)
    try:
        det.score_samples(test)
    except Exception:  # noqa: BLE001 - any error is the right answer before fit
        pass
    else:
        _fail(factory, "score_samples before fit must raise (NotFittedError)")
    if det.fit(train) is not det:
        _fail(factory, "fit(X) must return self")
    scores = np.asarray(det.score_samples(test))
    if scores.shape != (len(test),):
        _fail(factory, f"score_samples returned shape {scores.shape}, expected ({len(test)},)")
    if not np.issubdtype(scores.dtype, np.floating) or not np.all(np.isfinite(scores)):
        _fail(factory, "score_samples must return finite floats")
    inliers = np.delete(scores, planted)
    if not scores[planted] > np.median(inliers):
        _fail(factory, f"a planted outlier scored {scores[planted]:.4g}, not above the inliers' "
                       f"median {np.median(inliers):.4g}: scores must be higher = more anomalous")
    own = getattr(det, "train_scores_", None)
    if own is not None:
        own = np.asarray(own, dtype=np.float64)
        if own.shape != (len(train),):
            _fail(factory, f"train_scores_ has shape {own.shape}, expected ({len(train)},)")
        rho = _rank_correlation(own, np.asarray(det.score_samples(train), dtype=np.float64))
        if not rho > 0.5:
            _fail(factory, f"train_scores_ and score_samples of the training rows have rank "
                           f"correlation {rho:.2f}: train_scores_ must be the detector's own "
                           f"scores (higher = more anomalous) of its training rows")
    again = pickle.loads(pickle.dumps(det))
    if not np.allclose(again.score_samples(test), scores, equal_nan=True):
        _fail(factory, "a pickled and unpickled detector scores differently")
    sig = _signature_params(factory)
    if "random_state" in sig:
        seeded = {**params, "random_state": params.get("random_state", 0) or 0}
        a = factory(**seeded).fit(train).score_samples(test)
        b = factory(**seeded).fit(train).score_samples(test)
        if not np.allclose(a, b):
            _fail(factory, "two fits with the same random_state score differently")


def check_scaler(factory: Factory, params: Mapping[str, Any] | None = None) -> None:
    """Check a scaler: parameters, ``fit`` returns self, shape kept, ``fit_transform`` agrees.

    :raises ConformanceError: naming the scaler and the rule broken.
    """
    params = dict(params or {})
    train, test, _ = _planted(60, 4, 0)
    scaler = _check_params(factory, params)
    if scaler.fit(train) is not scaler:
        _fail(factory, "fit(X) must return self")
    out = np.asarray(scaler.transform(test))
    if out.shape != test.shape:
        _fail(factory, f"transform returned shape {out.shape}, expected {test.shape}")
    both = np.asarray(factory(**params).fit_transform(train))
    if not np.allclose(both, scaler.transform(train), equal_nan=True):
        _fail(factory, "fit_transform(X) differs from fit(X).transform(X)")


def _series_frame(seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    n = 60
    ts = np.datetime64("2026-01-01T00:00:00", "ns") + np.arange(n) * np.timedelta64(1, "s")
    return Frame(
        X=rng.normal(size=(2 * n, 3)),
        columns=["a", "b", "c"],
        timestamps=np.concatenate([ts, ts]),
        channels=np.repeat(["x", "y"], n),
    )


def check_transform(factory: Factory, params: Mapping[str, Any] | None = None) -> None:
    """Check a frame transform: parameters, ``fit`` returns self, a Frame back whose rows are
    a subset of the input's (by ``index``), with unique column names, and repeatable.

    :raises ConformanceError: naming the transform and the rule broken.
    """
    params = dict(params or {})
    frame = _series_frame()
    transform = _check_params(factory, params)
    if transform.fit(frame) is not transform:
        _fail(factory, "fit(frame) must return self")
    out = transform.transform(frame)
    if not isinstance(out, Frame):
        _fail(factory, f"transform returned {type(out).__name__}, expected a Frame")
    if out.n_rows > frame.n_rows or not np.isin(out.index, frame.index).all():
        _fail(factory, "transform may only drop rows (index must be a subset of the input's)")
    again = transform.transform(frame)
    if not np.allclose(again.X, out.X, equal_nan=True):
        _fail(factory, "transforming the same frame twice gave different features")


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(np.float64)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(np.float64)
    if ra.std() == 0 or rb.std() == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def _signature_params(factory: Factory) -> set[str]:
    target = factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]
    try:
        return set(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        return set()


def quick_params(entry: Any) -> dict[str, Any]:
    """Parameters that build a registry ``entry``'s model quickly for a conformance check:
    its ``get_test_params()`` if it has one, and few trees where ``n_estimators`` exists."""
    params: dict[str, Any] = {}
    test_params = getattr(entry.factory, "get_test_params", None)
    if callable(test_params):
        params.update(test_params())
    if "n_estimators" in entry.params and "n_estimators" not in params:
        params["n_estimators"] = 20
    return params


def check_registered_models(names: list[str] | None = None) -> dict[str, str | None]:
    """Run :func:`check_detector` on every registered model (or ``names``).

    :returns: for each model name, None when it conforms, else the failure message.
    """
    from .manager import build_registry

    registry = build_registry()
    out: dict[str, str | None] = {}
    for name in names if names is not None else registry.names("model"):
        entry = registry.get("model", name)
        try:
            check_detector(entry.factory, quick_params(entry))
            out[name] = None
        except Exception as exc:  # report every model, not just the first failure
            out[name] = f"{type(exc).__name__}: {exc}"
    return out
