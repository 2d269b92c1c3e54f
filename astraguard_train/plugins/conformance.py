"""Conformance checks for plugin authors, in the spirit of scikit-learn's ``check_estimator``.

::

    from astraguard_train.testing import check_detector

    def test_my_detector_keeps_the_contract():
        check_detector(MyDetector, {"window": 5})

There is one check per plugin kind (:data:`CHECKS`), each testing the kind's contract in
:mod:`astraguard_train.plugins.contracts` by behaviour, optional capabilities included. A
transform or detector whose output for a row depends on earlier rows must say so: the checks
score a frame whole and its second half alone, and when the second half's rows differ, they
require a declared ``lookback()`` that makes them equal again once that history is prepended,
or carried state (``score_stream``/``apply_stream``) that does.

Each check raises :class:`~astraguard_train.errors.ConformanceError` (an ``AssertionError``)
naming the plugin and the rule it broke, so it reads well as a failing test. A factory that
needs parameters to be built can say which through a ``get_test_params()`` classmethod
returning a dict (used by :func:`check_registered_models` for every registered model).
"""

from __future__ import annotations

import inspect
import json
import pickle
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn, Protocol, runtime_checkable

import attrs
import numpy as np

from ..data.frame import UNLABELLED, Frame
from ..errors import ConformanceError
from . import contracts

Factory = Callable[..., Any]

#: the planted outlier's value in every feature, in units of the inliers' standard deviation
OUTLIER = 8.0
#: how close a chunk's outputs must come to the whole stream's (EWMA histories are truncated
#: at a weight of 1e-12)
RTOL, ATOL = 1e-7, 1e-9


@runtime_checkable
class HasTestParams(Protocol):
    """Optional, on a factory: the parameters that build it quickly for a check."""

    def get_test_params(self) -> dict[str, Any]: ...


def _name(factory: Factory) -> str:
    return getattr(factory, "__name__", None) or type(factory).__name__


def _fail(factory: Factory, rule: str) -> NoReturn:
    raise ConformanceError(f"{_name(factory)}: {rule}")


def _build(factory: Factory, params: Mapping[str, Any], kind: str) -> Any:
    """``factory(**params)``, which must keep ``kind``'s contract."""
    obj = factory(**params)
    contract = contracts.CONTRACTS[kind]
    if not isinstance(obj, contract):
        _fail(factory, f"does not keep the {kind} contract ({contract.__name__}): it lacks "
                       f"{', '.join(contracts.missing(obj, contract))}")
    return obj


def _planted(n_rows: int, n_features: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Training rows (row 0 planted far out) and test rows (the middle one planted far out on
    the other side, so that it has no twin among the training rows)."""
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(n_rows, n_features))
    train[0] = OUTLIER
    test = rng.normal(size=(41, n_features))
    test[20] = -OUTLIER
    return train, test, 20


def _check_params(factory: Factory, params: Mapping[str, Any], kind: str) -> Any:
    """Build; the object must keep ``kind``'s contract, ``get_params`` must echo ``params``
    and ``clone`` must round-trip."""
    from sklearn.base import clone

    obj = _build(factory, params, kind)
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
    """Check that ``factory(**params)`` keeps the detector contract
    (:class:`~astraguard_train.plugins.contracts.Detector`) and its optional capabilities.

    Checks: ``fit`` and ``score_samples`` exist; ``get_params``/``clone`` echo the parameters
    and ``__init__`` fits nothing; scoring before ``fit`` raises; ``fit(X)`` returns ``self``;
    ``score_samples`` returns one finite float per row; a planted outlier scores above the
    inliers' median; ``train_scores_`` (when the detector keeps them) rank the training rows as
    ``score_samples`` does; ``score_terms`` (when the detector decomposes its score) gives one
    term per row and feature, each row's adding up to its score, each term unchanged when the
    row's other features or the other rows change; a pickle round trip scores the same; with
    ``random_state`` set, two fits score the same; a detector that ``uses_labels`` fits with one
    labelled anomaly and with none, and still ranks the planted outlier high. On a two-channel
    time series of ``n_rows`` rows per channel (make it more than twice the detector's
    lookback): ``fit_frame`` returns self and ``score_frame`` gives one score per row (a frame
    detector); ``lookback()`` and ``score_counts()`` are well formed; and scores that depend on
    earlier rows come with a ``lookback()`` long enough, or with carried state
    (``score_stream``), to score a later chunk as in the whole stream; an incremental detector's
    ``partial_fit_frame`` returns self, takes an ``exclude`` mask and keeps the scores finite.

    :raises ConformanceError: naming the detector and the rule broken.
    """
    params = dict(params or {})
    train, test, planted = _planted(n_rows, n_features, seed)
    det = _check_params(factory, params, "model")
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
    own = contracts.train_scores(det)
    if own is not None:
        if own.shape != (len(train),):
            _fail(factory, f"train_scores_ has shape {own.shape}, expected ({len(train)},)")
        rho = _rank_correlation(own, np.asarray(det.score_samples(train), dtype=np.float64))
        if not rho > 0.5:
            _fail(factory, f"train_scores_ and score_samples of the training rows have rank "
                           f"correlation {rho:.2f}: train_scores_ must be the detector's own "
                           f"scores (higher = more anomalous) of its training rows")
    if contracts.keeps(det, contracts.DecomposesScore):
        _check_terms(factory, det, test, scores)
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
    if contracts.uses_labels(det):
        _check_labels(factory, params, train, test, planted)
    _check_detector_on_series(factory, params, n_rows)


def _check_terms(factory: Factory, det: Any, test: np.ndarray, scores: np.ndarray) -> None:
    """A :class:`~astraguard_train.plugins.contracts.DecomposesScore` detector: ``(rows,
    features)`` terms adding up to the scores; a term depends on its own value alone (the
    first feature's values shuffled between rows, or the rows scored in another batch, leave
    the other terms as they were)."""
    terms = contracts.score_terms(det, test)
    assert terms is not None
    if terms.shape != test.shape:
        _fail(factory, f"score_terms returned shape {terms.shape}, expected {test.shape}")
    if not np.allclose(terms.sum(axis=1), scores, rtol=1e-9, atol=1e-9):
        _fail(factory, "score_terms of a row must add up to its score_samples")
    shuffled = test.copy()
    shuffled[:, 0] = test[::-1, 0]
    changed = contracts.score_terms(det, shuffled)
    assert changed is not None
    if not np.allclose(changed[:, 1:], terms[:, 1:], rtol=1e-9, atol=1e-9):
        _fail(factory, "a score term changed with another feature's value: term [i, j] must "
                       "depend on X[i, j] alone")
    alone = contracts.score_terms(det, test[:3])
    assert alone is not None
    if not np.allclose(alone, terms[:3], rtol=1e-9, atol=1e-9):
        _fail(factory, "the score terms of rows scored in another batch differ: a term must "
                       "not depend on the other rows scored with it")


def _check_labels(
    factory: Factory, params: Mapping[str, Any], train: np.ndarray, test: np.ndarray, planted: int
) -> None:
    """A :class:`~astraguard_train.plugins.contracts.SupervisedDetector`: ``fit(X, y)``
    returns self with labels (0/1, or 1/0/-1 with most rows not judged), and with none (``y``
    None, all 0 or all -1) still scores finite floats with the planted outlier above the
    inliers' median (an unsupervised fallback)."""
    labelled = np.zeros(len(train), np.int8)
    labelled[0] = 1  # the planted training outlier, the one anomaly an operator confirmed
    judged = np.full(len(train), UNLABELLED, np.int8)  # verdicts: one true, two false alarms
    judged[:3] = (1, 0, 0)
    for y in (labelled, judged, None, np.zeros(len(train), np.int8),
              np.full(len(train), UNLABELLED, np.int8)):
        det = factory(**params)
        if det.fit(train, y) is not det:
            _fail(factory, "fit(X, y) must return self")
        scores = np.asarray(det.score_samples(test), dtype=np.float64)
        if scores.shape != (len(test),) or not np.all(np.isfinite(scores)):
            _fail(factory, "after fit(X, y), score_samples must return one finite float per row")
        if not scores[planted] > np.median(np.delete(scores, planted)):
            what = "no labels" if y is None or not (y == 1).any() else "one labelled anomaly"
            _fail(factory, f"fitted with {what}, a planted outlier scored "
                           f"{scores[planted]:.4g}, not above the inliers' median: a detector "
                           "that uses labels must fall back to unsupervised scores")


def _check_detector_on_series(factory: Factory, params: Mapping[str, Any], n: int) -> None:
    # n rows per channel: some detectors cost O(rows^3) (LOCI); new rows are scored, not the
    # training rows (whose scores tie exactly with the training scores)
    train, frame = _series_frame(n), _series_frame(n, seed=1)
    det = factory(**params)
    if contracts.keeps(det, contracts.FrameDetector) and det.fit_frame(train) is not det:
        _fail(factory, "fit_frame(frame) must return self")
    contracts.fit_detector(det, train)
    _check_lookback(factory, det)
    _check_incremental(factory, det, frame)
    if contracts.keeps(det, contracts.ReportsCounts):
        counts = det.score_counts(frame)
        if not isinstance(counts, Mapping) or not all(
            isinstance(k, str) and isinstance(v, (int, np.integer)) for k, v in counts.items()
        ):
            _fail(factory, f"score_counts(frame) returned {counts!r}; expected a dict of "
                           f"name -> int")

    def score(part: Frame) -> dict[int, np.ndarray]:
        out = np.asarray(contracts.score_detector(det, part), dtype=np.float64)
        if out.shape != (part.n_rows,):
            _fail(factory, f"scoring a frame of {part.n_rows} rows returned shape {out.shape}")
        return dict(zip(part.index.tolist(), out.reshape(-1, 1), strict=True))

    def stream(parts: list[Frame]) -> dict[int, np.ndarray]:
        assert contracts.keeps(det, contracts.StreamingDetector)
        state, out = det.init_state(), dict[int, np.ndarray]()
        for part in parts:
            before = pickle.dumps(state)
            scores, after = det.score_stream(part, state)
            if pickle.dumps(state) != before:
                _fail(factory, "score_stream(frame, state) modified the state it was given; "
                               "it must return a new one")
            out.update(zip(part.index.tolist(), np.reshape(scores, (-1, 1)), strict=True))
            state = pickle.loads(pickle.dumps(after))  # what a scorer saves must restore
        return out

    stateful = contracts.keeps(det, contracts.StreamingDetector)
    _check_history(factory, frame, score, contracts.lookback(det), stream if stateful else None)


def _check_incremental(factory: Factory, fitted: Any, frame: Frame) -> None:
    """An :class:`~astraguard_train.plugins.contracts.IncrementalDetector` that says it can
    update returns itself from ``partial_fit_frame``, accepts an ``exclude`` mask, keeps
    scoring every row with a finite float, and leaves any ``train_scores_`` one per new row."""
    if not contracts.keeps(fitted, contracts.IncrementalDetector):
        return
    reason = fitted.partial_fit_blocker()
    if reason is not None:
        if not isinstance(reason, str) or not reason:
            _fail(factory, f"partial_fit_blocker() returned {reason!r}; expected None or a "
                           "reason (a non-empty string)")
        return
    det = pickle.loads(pickle.dumps(fitted))
    exclude = np.zeros(frame.n_rows, dtype=bool)
    exclude[: frame.n_rows // 4] = True
    if det.partial_fit_frame(frame, exclude=exclude) is not det:
        _fail(factory, "partial_fit_frame(frame) must return self")
    own = contracts.train_scores(det)
    if own is not None and own.shape != (frame.n_rows,):
        _fail(factory, f"after partial_fit_frame, train_scores_ has shape {own.shape}; "
                       f"expected one score per new row ({frame.n_rows},)")
    scores = np.asarray(contracts.score_detector(det, frame), dtype=np.float64)
    if scores.shape != (frame.n_rows,) or not np.all(np.isfinite(scores)):
        _fail(factory, "after partial_fit_frame, scores must stay one finite float per row")


def _check_lookback(factory: Factory, step: Any) -> None:
    if not contracts.keeps(step, contracts.NeedsHistory):
        return
    need = step.lookback()
    ok = (
        isinstance(need, tuple) and len(need) == 2
        and isinstance(need[0], (int, np.integer)) and need[0] >= 0
        and isinstance(need[1], (int, float)) and need[1] >= 0
    )
    if not ok:
        _fail(factory, f"lookback() returned {need!r}; expected (rows >= 0, seconds >= 0.0)")


def _check_history(
    factory: Factory,
    frame: Frame,
    run: Callable[[Frame], dict[int, np.ndarray]],
    need: contracts.History,
    stream: Callable[[list[Frame]], dict[int, np.ndarray]] | None = None,
    remedy: str = "declare the history it needs, lookback() -> (rows, seconds), or carry "
    "state",
) -> None:
    """Outputs (by row ``index``) of ``frame``'s first half must not depend on the rows after
    them; those of its second half must equal the whole frame's: alone, or with the declared
    ``need`` of history prepended, or streamed with state."""
    from ..timeseries.carry import history_tail

    cut = frame.n_rows // 2
    head, tail = frame.take(slice(0, cut)), frame.take(slice(cut, None))
    everything = run(frame)
    if not _same(run(head), {i: v for i, v in everything.items() if i < cut}):
        _fail(factory, f"the output for a row depends on the rows processed with it: rows "
                       f"0..{cut - 1} of a {frame.n_rows}-row series come out differently "
                       f"without the rows after them, so chunked scoring would differ from "
                       f"scoring whole; use only the row itself and earlier rows")
    whole = {i: v for i, v in everything.items() if i >= cut}
    if _same(run(tail), whole):
        return
    if stream is not None:
        if not _same(stream([frame]), everything):
            _fail(factory, "score_stream from init_state() scores a whole frame differently "
                           "from scoring it at once")
        if not _same(stream([head, tail]), everything):
            _fail(factory, "carried state does not carry: scored with score_stream in two "
                           "chunks, the second chunk's rows differ from the whole stream's")
        return
    rows, seconds = need
    if (rows, seconds) == contracts.NO_HISTORY:
        _fail(factory, f"the output for a row depends on earlier rows (rows {cut}.. of a "
                       f"{frame.n_rows}-row series come out differently alone than after the "
                       f"rows before them), but it declares no lookback() and carries no "
                       f"state: {remedy}")
    work = Frame.concat([history_tail(head, rows, seconds), tail])
    got = {i: v for i, v in run(work).items() if i >= cut}
    if not _same(got, whole):
        _fail(factory, f"declares lookback() = ({rows}, {seconds}), but with that history "
                       f"prepended the rows {cut}.. of a {frame.n_rows}-row series still come "
                       f"out differently than in the whole stream: the lookback is too short")


def _same(a: dict[int, np.ndarray], b: dict[int, np.ndarray]) -> bool:
    if a.keys() != b.keys():
        return False
    if not a:
        return True
    keys = sorted(a)
    x = np.vstack([a[k] for k in keys])
    y = np.vstack([b[k] for k in keys])
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=RTOL, atol=ATOL, equal_nan=True))


def check_scaler(factory: Factory, params: Mapping[str, Any] | None = None) -> None:
    """Check a scaler (:class:`~astraguard_train.plugins.contracts.Scaler`): parameters,
    ``fit`` returns self, shape kept, ``fit_transform`` agrees.

    :raises ConformanceError: naming the scaler and the rule broken.
    """
    params = dict(params or {})
    train, test, _ = _planted(60, 4, 0)
    scaler = _check_params(factory, params, "scaler")
    if scaler.fit(train) is not scaler:
        _fail(factory, "fit(X) must return self")
    out = np.asarray(scaler.transform(test))
    if out.shape != test.shape:
        _fail(factory, f"transform returned shape {out.shape}, expected {test.shape}")
    both = np.asarray(factory(**params).fit_transform(train))
    if not np.allclose(both, scaler.transform(train), equal_nan=True):
        _fail(factory, "fit_transform(X) differs from fit(X).transform(X)")


def _series_frame(n: int = 120, seed: int = 0) -> Frame:
    """Two channels ``x`` and ``y``, one row each per second, interleaved; three features
    named as :func:`_planted`'s matrix columns are (``x0``...), so that parameters naming
    columns fit both."""
    rng = np.random.default_rng(seed)
    ts = np.datetime64("2026-01-01T00:00:00", "ns") + np.arange(n) * np.timedelta64(1, "s")
    return Frame(
        X=np.cumsum(rng.normal(size=(2 * n, 3)), axis=0) * 0.1 + rng.normal(size=(2 * n, 3)),
        columns=["x0", "x1", "x2"],
        timestamps=np.repeat(ts, 2),
        channels=np.tile(["x", "y"], n),
    )


def check_transform(factory: Factory, params: Mapping[str, Any] | None = None) -> None:
    """Check a frame transform (:class:`~astraguard_train.plugins.contracts.Transform`):
    parameters, ``fit`` returns self, a Frame back whose rows are a subset of the input's (by
    ``index``), with unique column names, and repeatable; an output that depends on earlier
    rows comes with a ``lookback()`` long enough to transform a later chunk as in the whole
    stream.

    :raises ConformanceError: naming the transform and the rule broken.
    """
    params = dict(params or {})
    frame = _series_frame()
    transform = _check_params(factory, params, "transform")
    if transform.fit(frame) is not transform:
        _fail(factory, "fit(frame) must return self")
    out = transform.transform(frame)
    if not isinstance(out, Frame):
        _fail(factory, f"transform returned {type(out).__name__}, expected a Frame")
    if out.n_rows > frame.n_rows or not np.isin(out.index, frame.index).all():
        _fail(factory, "transform may only drop rows (index must be a subset of the input's)")
    if len(set(out.columns)) != len(out.columns):
        _fail(factory, f"transform returned repeated column names: {', '.join(out.columns)}")
    again = transform.transform(frame)
    if not np.allclose(again.X, out.X, equal_nan=True):
        _fail(factory, "transforming the same frame twice gave different features")
    _check_lookback(factory, transform)

    def run(part: Frame) -> dict[int, np.ndarray]:
        got = transform.transform(part)
        return dict(zip(got.index.tolist(), got.X, strict=True))

    _check_history(factory, frame, run, contracts.lookback(transform))

    check_streaming(factory, params)


#: How :func:`check_streaming` cuts its test stream: chunk sizes, and one random cut
#: (seeded) with the state saved and loaded at every edge.
CHUNKINGS = ((1,), (7,), (31,), (1, 45), (59, 2))


def _cuts(n: int, sizes: tuple[int, ...]) -> list[int]:
    cuts, at, k = [], 0, 0
    while at < n:
        at += sizes[k % len(sizes)]
        k += 1
        cuts.append(min(at, n))
    return [0, *cuts]


def check_streaming(factory: Factory, params: Mapping[str, Any] | None = None) -> None:
    """Check that a transform or a detector gives the same bits scored whole or in chunks.

    The component is fitted on a two-channel test stream, which is then run whole and
    in chunks of several sizes (1 row, 7, 31, uneven), its carried state packed and
    unpacked (as ``score --state`` saves it) at every chunk edge: outputs, row by row, must
    be identical. Transforms are streamed with ``transform_stream(frame, state)`` if they
    have one, else with their ``lookback()`` rows prepended; detectors with
    ``score_stream(frame, state)`` if they have one, else likewise.

    :raises ConformanceError: naming the component, the chunking and the first difference.
    """
    from ..training.detector import Chain, TrainedDetector
    from ..training.streaming import pack_state, unpack_state

    params = dict(params or {})
    frame = _series_frame(seed=1)
    obj = factory(**params)
    if hasattr(obj, "transform"):
        chain = Chain([obj], None, _FirstColumn())
    else:
        chain = Chain([], None, obj)
    chain.fit(frame)
    detector = TrainedDetector(chains={None: chain}, thresholds={None: 0.0})
    whole = detector.score_frame(frame)
    for sizes in CHUNKINGS:
        edges = _cuts(frame.n_rows, sizes)
        scorer = detector.stream()
        parts = []
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            parts.append(scorer.raw(frame.take(slice(lo, hi))))
            tree, arrays = pack_state(scorer.groups)
            scorer.groups = unpack_state(tree, arrays)
        index = np.concatenate([p.frame.index for p in parts])
        if not np.array_equal(index, whole.frame.index):
            _fail(factory, f"in chunks of {sizes} rows, the rows scored differ from the whole "
                           f"stream's ({index.size} against {whole.n_rows})")
        for name, a, b in (("scores", np.concatenate([p.scores for p in parts]), whole.scores),):
            if not np.array_equal(a, b, equal_nan=True):
                bad = np.argwhere(~((a == b) | (np.isnan(a) & np.isnan(b))))[0]
                _fail(factory, f"in chunks of {sizes} rows, {name} differ from the whole "
                               f"stream's at row {int(index[bad[0]])}: a chunk must compute "
                               f"as the whole stream (declare lookback() or carry a state "
                               f"with transform_stream/score_stream)")


class _FirstColumn:
    """A model scoring each row by a weighted sum of its features, row by row (to stream a
    transform alone: a difference in any feature shows in the score)."""

    def fit(self, X: np.ndarray) -> _FirstColumn:
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        weights = np.sqrt(np.arange(2.0, X.shape[1] + 2.0))
        return np.asarray((X * weights).sum(axis=1), dtype=np.float64)


def _threshold_context(seed: int = 0, train: bool = True) -> Any:
    """Training and validation scores of a two-channel series, the validation part with
    labels (its last rows anomalous, scored high)."""
    from ..training.fit import ThresholdContext

    rng = np.random.default_rng(seed)
    fit_frame, val_frame = _series_frame(100, seed), _series_frame(60, seed + 1)
    val = np.abs(rng.normal(size=val_frame.n_rows))
    labels = np.zeros(val_frame.n_rows, dtype=np.int8)
    labels[-10:] = 1
    val[-10:] += OUTLIER
    return ThresholdContext(
        train_scores=np.abs(rng.normal(size=fit_frame.n_rows)) if train else None,
        validation_scores=val,
        validation_labels=labels,
        validation_frame=attrs.evolve(val_frame, labels=labels),
        train_frame=fit_frame,
    )


def check_threshold(factory: Factory, params: Mapping[str, Any] | None = None) -> None:
    """Check a threshold strategy
    (:class:`~astraguard_train.plugins.contracts.ThresholdStrategy`): ``choose`` returns a
    finite float or a rule that passes :func:`check_threshold_rule`; ``info_`` (when set) is
    a JSON-friendly dict; a strategy that declares ``needs_train_scores = False`` chooses
    without them.

    :raises ConformanceError: naming the strategy and the rule broken.
    """
    params = dict(params or {})
    strategy = _build(factory, params, "threshold")
    chosen = strategy.choose(_threshold_context())
    if contracts.is_rule(chosen):
        check_threshold_rule(chosen)
    elif isinstance(chosen, bool) or not isinstance(chosen, (int, float, np.floating)) or not (
        np.isfinite(chosen)
    ):
        _fail(factory, f"choose(context) returned {chosen!r}; expected a finite float or a "
                       f"ThresholdRule (value, apply(scores, frame))")
    if contracts.keeps(strategy, contracts.ExplainsChoice):
        info = strategy.info_
        if not isinstance(info, Mapping) or not _jsonable(info):
            _fail(factory, f"info_ is {info!r}; expected a JSON-friendly dict")
    if not contracts.needs_train_scores(strategy):
        try:
            factory(**params).choose(_threshold_context(train=False))
        except Exception as exc:  # noqa: BLE001 - any error breaks the promise
            _fail(factory, f"declares needs_train_scores = False, but choose() failed without "
                           f"training scores: {type(exc).__name__}: {exc}")


def check_threshold_rule(rule: Any) -> None:
    """Check a per-row threshold (:class:`~astraguard_train.plugins.contracts.ThresholdRule`):
    a finite ``value``; ``apply`` gives one finite threshold per row, the same after a pickle
    round trip; and thresholds that depend on earlier rows' scores come with carried state
    (``init_state``/``apply_stream``) that makes a later chunk's thresholds equal the whole
    stream's.

    :raises ConformanceError: naming the rule's class and the rule broken.
    """
    who = type(rule)
    if not contracts.is_rule(rule):
        _fail(who, f"does not keep the ThresholdRule contract: it lacks "
                   f"{', '.join(contracts.missing(rule, contracts.ThresholdRule))}")
    if not np.isfinite(float(rule.value)):
        _fail(who, f"value is {rule.value!r}; expected a finite float")
    frame = _series_frame(150, 3)
    scores = np.abs(np.random.default_rng(3).normal(size=frame.n_rows))
    scores[::37] += OUTLIER

    def run(part: Frame) -> dict[int, np.ndarray]:
        got = np.asarray(rule.apply(scores[part.index], part), dtype=np.float64)
        if got.shape != (part.n_rows,) or not np.isfinite(got).all():
            _fail(who, f"apply(scores, frame) for {part.n_rows} rows returned shape "
                       f"{got.shape}; expected one finite threshold per row")
        return dict(zip(part.index.tolist(), got.reshape(-1, 1), strict=True))

    twin = pickle.loads(pickle.dumps(rule))
    if not np.array_equal(twin.apply(scores, frame), rule.apply(scores, frame)):
        _fail(who, "a pickled and unpickled rule gives different thresholds")

    def stream(parts: list[Frame]) -> dict[int, np.ndarray]:
        assert contracts.keeps(rule, contracts.StreamingRule)
        state, out = rule.init_state(), dict[int, np.ndarray]()
        for part in parts:
            before = pickle.dumps(state)
            got, after = rule.apply_stream(scores[part.index], part, state)
            if pickle.dumps(state) != before:
                _fail(who, "apply_stream(scores, frame, state) modified the state it was "
                           "given; it must return a new one")
            out.update(zip(part.index.tolist(), np.reshape(got, (-1, 1)), strict=True))
            state = pickle.loads(pickle.dumps(after))
        return out

    stateful = contracts.keeps(rule, contracts.StreamingRule)
    _check_history(
        who, frame, run, contracts.NO_HISTORY, stream if stateful else None,
        remedy="each chunk would restart its history; carry it in state: init_state() and "
        "apply_stream(scores, frame, state) -> (thresholds, state), the StreamingRule contract",
    )


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return False
    return True


def check_metric(factory: Factory, params: Mapping[str, Any] | None = None) -> None:
    """Check a metric factory (:class:`~astraguard_train.plugins.contracts.Metric`): what it
    returns is callable on ``(y_true, scores, flags, frame)`` and returns a JSON-friendly
    dict keyed by name, also for unlabelled data (``y_true`` None), without modifying its
    arguments.

    :raises ConformanceError: naming the factory and the rule broken.
    """
    metric = _build(factory, dict(params or {}), "metric")
    frame = _series_frame(100, 4)
    rng = np.random.default_rng(4)
    y = np.zeros(frame.n_rows, dtype=np.int8)
    y[50:60] = 1
    scores = rng.normal(size=frame.n_rows) + 3 * y
    flags = scores > 2.0
    kept: tuple[np.ndarray, ...] = (y.copy(), scores.copy(), flags.copy(), frame.X.copy())
    for labels in (y, None):
        out = metric(labels, scores, flags, frame)
        which = "unlabelled" if labels is None else "labelled"
        if not isinstance(out, Mapping) or not all(isinstance(k, str) for k in out):
            _fail(factory, f"the metric returned {type(out).__name__} for {which} rows; "
                           f"expected a dict of name -> figure ({{}} when it does not apply)")
        if not _jsonable(dict(out)):
            _fail(factory, f"the metric's figures for {which} rows are not JSON-friendly: "
                           f"{out!r}")
    now: tuple[np.ndarray, ...] = (y, scores, flags, frame.X)
    if not all(np.array_equal(a, b) for a, b in zip(kept, now, strict=True)):
        _fail(factory, "the metric modified its arguments")


def check_persister(factory: Factory, params: Mapping[str, Any] | None = None) -> None:
    """Check a persister (:class:`~astraguard_train.plugins.contracts.Persister`): a
    ``suffix`` such as ``.joblib``, and ``load(dump(detector))`` scoring as the fitted
    detector it was given.

    :raises ConformanceError: naming the persister and the rule broken.
    """
    from ..models.sklearn import IForest
    from ..training.detector import Chain, TrainedDetector

    persister = _build(factory, dict(params or {}), "persister")
    suffix = persister.suffix
    if not isinstance(suffix, str) or not suffix.startswith(".") or len(suffix) < 2:
        _fail(factory, f"suffix is {suffix!r}; expected a file extension such as '.joblib'")
    frame = _series_frame(60, 5)
    chain = Chain([], None, IForest(n_estimators=5, random_state=0)).fit(frame)
    detector = TrainedDetector(chains={None: chain}, thresholds={None: 0.5})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"detector{suffix}"
        persister.dump(detector, path)
        if not path.is_file():
            _fail(factory, f"dump(obj, path) wrote no file at {path.name}")
        loaded = persister.load(path, trusted=True)  # this check wrote it: it vouches
    if not isinstance(loaded, TrainedDetector):
        _fail(factory, f"load(path) returned {type(loaded).__name__}, not the TrainedDetector "
                       f"that was dumped")
    if not np.array_equal(loaded.score_frame(frame).scores, detector.score_frame(frame).scores):
        _fail(factory, "the loaded detector scores differently from the one dumped")


def check_loader(
    factory: Factory,
    params: Mapping[str, Any] | None = None,
    *,
    source: Any = None,
    rows: int | None = None,
) -> None:
    """Check a loader (:class:`~astraguard_train.plugins.contracts.Loader`): ``load(source)``
    returns a Frame whose ``index`` counts its rows; a streaming loader's
    ``iter_chunks(rows, source)`` yields frames of at most ``rows`` rows that together equal
    ``load``'s.

    :param source: what to load (None: the loader's own parameters say, e.g. ``path``).
    :param rows: rows per chunk (default: a third of the frame).
    :raises ConformanceError: naming the loader and the rule broken.
    """
    loader = _build(factory, dict(params or {}), "loader")
    frame = loader.load(source)
    if not isinstance(frame, Frame):
        _fail(factory, f"load returned {type(frame).__name__}, expected a Frame")
    if not np.array_equal(frame.index, np.arange(frame.n_rows)):
        _fail(factory, "load(source)'s frame must have index 0..n-1, the rows' positions")
    if not contracts.keeps(loader, contracts.ChunkedLoader):
        return
    size = rows or max(1, -(-frame.n_rows // 3))
    chunks = list(loader.iter_chunks(size, source))
    big = [c.n_rows for c in chunks if c.n_rows > size]
    if big:
        _fail(factory, f"iter_chunks({size}) yielded a chunk of {big[0]} rows")
    joined = Frame.concat(chunks) if chunks else frame.take(slice(0, 0))
    for name in ("index", "timestamps", "channels", "labels"):
        a, b = getattr(joined, name), getattr(frame, name)
        if (a is None) != (b is None) or a is not None and not np.array_equal(a, b):
            _fail(factory, f"iter_chunks: the chunks' {name} differ from load()'s")
    if joined.columns != frame.columns or not np.array_equal(joined.X, frame.X, equal_nan=True):
        _fail(factory, "iter_chunks: the chunks' features differ from load()'s")


def check_decision_rule(factory: Factory, params: Mapping[str, Any] | None = None) -> None:
    """Check an A/B decision rule (:class:`~astraguard_train.plugins.contracts.DecisionRule`):
    ``decide`` returns a :class:`~astraguard_train.retraining.decisions.Decision` with reasons,
    gives the same answer twice, and never promotes a challenger whose flags are the
    champion's own.

    :raises ConformanceError: naming the factory and the rule broken.
    """
    from ..retraining.comparison import compare
    from ..retraining.decisions import Decision
    from ..training.scored import Scored

    rule = _build(factory, dict(params or {}), "decision_rule")
    frame = _series_frame(400, 2)
    labels = np.zeros(frame.n_rows, dtype=np.int8)
    for start in range(20, 400, 40):
        labels[start:start + 5] = 1
    frame = attrs.evolve(frame, labels=labels)
    rng = np.random.default_rng(7)
    scores = rng.normal(size=frame.n_rows) + 3 * labels
    flags = scores > 1.5
    scored = Scored(frame=frame, scores=scores, flags=flags,
                    thresholds=np.full(frame.n_rows, 1.5))
    better = Scored(frame=frame, scores=scores, flags=flags | (labels == 1),
                    thresholds=scored.thresholds)
    for challenger, same in ((scored, True), (better, False)):
        comparison = compare(scored, challenger, n_boot=200)
        first, again = rule.decide(comparison), rule.decide(comparison)
        if not isinstance(first, Decision) or not first.reasons:
            _fail(factory, f"decide returned {first!r}; expected a Decision with reasons")
        if first != again:
            _fail(factory, "decide gave two answers for the same comparison")
        if same and first.action == "promote":
            _fail(factory, "the rule promoted a challenger that flags exactly the champion's rows")


#: The conformance check of each plugin kind.
def check_explainer(factory: Factory, params: Mapping[str, Any] | None = None,
                    model: Any = None) -> None:
    """Check an explainer (:class:`~astraguard_train.plugins.contracts.Explainer`): fitted on
    a chain's training features, it explains chosen rows (and no rows) with one finite
    contribution per named feature; its ``fitted_state()`` survives JSON, and an explainer
    restored from it with ``load_state`` explains alike.

    :param model: the detector of the chain it explains (default a small Isolation Forest;
        a forecaster for an explainer of forecasts).
    :raises ConformanceError: naming the explainer and the rule broken.
    """
    from ..explain.base import Contributions
    from ..models.sklearn import IForest
    from ..training.detector import Chain
    from ..training.streaming import rescorer

    params = dict(params or {})
    explainer = _build(factory, params, "explainer")
    frame = _series_frame(120, 7)
    chain = Chain([], None, model if model is not None else IForest(n_estimators=10,
                                                                      random_state=0))
    chain.fit(frame)
    feats = chain.features(frame)
    scores = chain.score_features(feats)
    explainer.fit(chain, feats)
    state = explainer.fitted_state()
    if not _jsonable(state):
        _fail(factory, "fitted_state() is not JSON-friendly: a bundle keeps it as JSON")
    twin = _build(factory, params, "explainer").load_state(json.loads(json.dumps(state)))
    rows = np.array([3, 50, 119])
    answers = []
    for which in (explainer, twin):
        for wanted in (rows, rows[:0]):
            found = which.explain(chain, feats, scores, wanted, rescorer(chain, None))
            if not isinstance(found, Contributions):
                _fail(factory, f"explain() returned {type(found).__name__}, not Contributions")
            shape = (wanted.size, len(found.names))
            if np.shape(found.values) != shape or not np.array_equal(found.rows, wanted):
                _fail(factory, f"explain() for {wanted.size} rows gave values of shape "
                               f"{np.shape(found.values)} for rows {found.rows}; expected "
                               f"{shape} for the rows asked")
            if not np.isfinite(found.values).all():
                _fail(factory, "explain() gave non-finite contributions")
            if wanted.size:
                answers.append(np.asarray(found.values))
    if not np.allclose(answers[0], answers[1]):
        _fail(factory, "an explainer restored by load_state(fitted_state()) explains "
                       "differently from the fitted one")


def _review_pool() -> Any:
    """Candidates of two channels, alarms and near misses, some with equal margins."""
    from ..feedback.review import Candidates

    rng = np.random.default_rng(6)
    n = 30
    margin = np.round(rng.normal(size=n), 1)
    first = np.sort(rng.choice(1000, n, replace=False)).astype(np.int64)
    channel = np.array(["a", "b"] * (n // 2), dtype=object)
    start = np.datetime64("2026-01-01T00:00:00", "ns") + first * np.timedelta64(1, "s")
    return Candidates(
        channel=channel, first=first, last=first + 2, first_row=first, last_row=first + 2,
        start=start, end=start + np.timedelta64(2, "s"), peak=margin + 3.0,
        threshold=np.full(n, 3.0), margin=margin, flagged=margin > 0, rows=np.full(n, 3),
        features=rng.normal(size=(n, 3)),
    )


def check_review_strategy(factory: Factory, params: Mapping[str, Any] | None = None) -> None:
    """Check a review strategy (:class:`~astraguard_train.plugins.contracts.ReviewStrategy`):
    for budgets below, at and above the number of candidates, ``select`` returns at most
    ``budget`` distinct positions among them, the same twice, without modifying them. A
    strategy that reads verdicts (:class:`~astraguard_train.plugins.contracts.ReadsVerdicts`)
    is checked the same way after half of the candidates were judged, and must equal
    ``select`` when nothing was.

    :raises ConformanceError: naming the strategy and the rule broken.
    """
    params = dict(params or {})
    strategy = _build(factory, params, "review_strategy")
    pool = _review_pool()
    before = {k: v.copy() for k, v in attrs.asdict(pool, recurse=False).items()}
    n = len(pool)
    for budget in (1, 7, n, n + 5):
        got = np.asarray(strategy.select(pool, budget)).reshape(-1)
        if got.size and not np.issubdtype(got.dtype, np.integer):
            _fail(factory, f"select(candidates, {budget}) returned {got.dtype} values; "
                           f"expected integer positions")
        if len(got) > budget or len(np.unique(got)) != len(got):
            _fail(factory, f"select(candidates, {budget}) returned {len(got)} positions, "
                           f"{len(np.unique(got))} distinct; expected at most {budget}, distinct")
        if len(got) and (got.min() < 0 or got.max() >= n):
            _fail(factory, f"select(candidates, {budget}) returned a position outside 0..{n - 1}")
        if budget <= n and len(got) == 0:
            _fail(factory, f"select(candidates, {budget}) picked nothing among {n} candidates")
        again = np.asarray(factory(**params).select(pool, budget)).reshape(-1)
        if not np.array_equal(got, again):
            _fail(factory, f"select(candidates, {budget}) gave other positions the second "
                           f"time; a strategy must be deterministic (take a seed)")
    now = attrs.asdict(pool, recurse=False)
    if not all(np.array_equal(before[k], now[k]) for k in before):
        _fail(factory, "select() modified the candidates it was given")
    if contracts.keeps(strategy, contracts.ReadsVerdicts):
        _check_reads_verdicts(factory, params, pool)


def _check_reads_verdicts(factory: Factory, params: Mapping[str, Any], pool: Any) -> None:
    from ..feedback.review import Judged

    strategy = factory(**params)
    nothing = Judged(pool.take(np.zeros(len(pool), dtype=bool)), np.zeros(0, np.int8))
    if not np.array_equal(np.asarray(strategy.select_judged(pool, 7, nothing)).reshape(-1),
                          np.asarray(strategy.select(pool, 7)).reshape(-1)):
        _fail(factory, "select_judged() with nothing judged differs from select()")
    half = np.arange(len(pool)) % 2 == 0
    judged = Judged(pool.take(half), (pool.margin[half] > 0).astype(np.int8))
    rest = pool.take(~half)
    n = len(rest)
    for budget in (1, 7, n + 5):
        got = np.asarray(strategy.select_judged(rest, budget, judged)).reshape(-1)
        if len(got) > budget or len(np.unique(got)) != len(got) or (
            len(got) and (got.min() < 0 or got.max() >= n)
        ):
            _fail(factory, f"select_judged(candidates, {budget}, judged) returned "
                           f"{got.tolist()}; expected at most {budget} distinct positions "
                           f"in 0..{n - 1}")
        again = np.asarray(factory(**params).select_judged(rest, budget, judged)).reshape(-1)
        if not np.array_equal(got, again):
            _fail(factory, f"select_judged(candidates, {budget}, judged) gave other positions "
                           f"the second time; a strategy must be deterministic")


CHECKS: dict[str, Callable[..., None]] = {
    "loader": check_loader,
    "transform": check_transform,
    "scaler": check_scaler,
    "model": check_detector,
    "persister": check_persister,
    "metric": check_metric,
    "threshold": check_threshold,
    "explainer": check_explainer,
    "review_strategy": check_review_strategy,
    "decision_rule": check_decision_rule,
}


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
    its ``get_test_params()`` if it has one, few trees where ``n_estimators`` exists, and few
    epochs where a neural network's epoch count does (PyOD's deep detectors, with torch)."""
    params: dict[str, Any] = {}
    if isinstance(entry.factory, HasTestParams):
        params.update(entry.factory.get_test_params())
    for key, quick in QUICK_PARAMS.items():
        default = entry.params.get(key)
        if isinstance(default, int) and default > quick and key not in params:
            params[key] = quick
    return params


#: Counts lowered to these by :func:`quick_params` wherever a model's default is higher.
QUICK_PARAMS: dict[str, int] = {
    # PyOD's SO_GAAL (a GAN) needs ~20 epochs before its scores mean anything
    "n_estimators": 20, "n_ensemble": 5, "epochs": 2, "epoch_num": 20, "n_epochs": 2,
}


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
