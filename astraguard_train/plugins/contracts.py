"""The contract of every plugin kind, written down once.

Each kind registered through a hook (:data:`~astraguard_train.plugins.registry.KIND_HOOKS`)
has a :class:`~typing.Protocol` here, in :data:`CONTRACTS`: a plugin keeps it structurally,
without inheriting anything. Optional capabilities are small named protocols of their own
(:class:`FrameDetector`, :class:`NeedsHistory`, :class:`StreamingRule`...). The core never
looks an optional method up by name: it calls the functions at the end of this module, which
ask :func:`keeps` ``(obj, Capability)`` (``isinstance``, with the methods looked up once per
class) and fall back to the plain contract.
:mod:`astraguard_train.testing` checks a plugin against its contract by behaviour.

Rows before the current one (history)
-------------------------------------
A component whose output for a row depends on earlier rows says so in one of two ways, so
that a file scored in chunks gives the same result as scored whole:

- :class:`NeedsHistory` (``lookback() -> (rows, seconds)``): the output for a row is a
  function of that row and a bounded past. A scorer prepends, per channel, the rows within
  ``seconds`` of a chunk's first row plus ``rows`` more rows before those, and drops the
  prepended rows' outputs. Transforms and stateless detectors (forecasters) use this.
- carried state (:class:`StreamingDetector`, :class:`StreamingRule`): the past is summarised
  in a :data:`State`, a dict from channel key (the channel's value; None when the frame has no
  channels) to a picklable value. ``init_state()`` gives the state before any row (usually
  ``{}``: a channel absent from it starts fresh); ``score_stream``/``apply_stream`` take the
  next rows and a state and return their outputs and the state after them, leaving the given
  state unchanged, so a scorer can keep, save and restore each channel's entry. The rows a
  stateful component gets are only new rows: its history is in its state, not prepended.

A component that depends on history and declares neither is rejected by the conformance
checks (they score a frame whole and its tail alone, and compare).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeGuard, TypeVar, cast, runtime_checkable

import numpy as np

from ..data.frame import UNLABELLED, Frame
from ..errors import PluginError

#: What a stateful component carries from one chunk to the next: channel key -> its state.
State = dict[Hashable, Any]

#: The history a component needs before a row: ``(rows, seconds)``.
History = tuple[int, float]

NO_HISTORY: History = (0, 0.0)

C = TypeVar("C")


# -- loader -------------------------------------------------------------------------------------


@runtime_checkable
class Loader(Protocol):
    """Turns a source into a :class:`Frame`. ``__init__`` stores the parameters only."""

    def load(self, source: Any = None) -> Frame:
        """Return all of ``source`` (the loader's own ``path`` when None) as one frame, with
        ``index`` the rows' positions in the source.

        :raises DataError: naming the file, row and column of unreadable input.
        :raises ConfigError: naming ``loader.<param>`` for a bad parameter.
        """
        ...


@runtime_checkable
class ChunkedLoader(Loader, Protocol):
    """Optional: a loader that streams, so memory stays bounded on large files."""

    def iter_chunks(self, rows: int, source: Any = None) -> Iterator[Frame]:
        """Yield frames of at most ``rows`` rows, in source order, whose ``index`` holds the
        global row positions; concatenated they equal ``load(source)``.

        :raises DataError: as :meth:`Loader.load`, when the bad row is reached.
        """
        ...


# -- transform and scaler ---------------------------------------------------------------------


@runtime_checkable
class Transform(Protocol):
    """A feature transform on whole frames (it may use timestamps and channels); a
    scikit-learn estimator: ``__init__`` stores parameters, fitted attributes end in ``_``."""

    def fit(self, frame: Frame) -> Any:
        """Learn from ``frame`` (the training part only). Returns ``self``.

        :raises ConfigError: naming the parameter, for an invalid one.
        :raises DataError: when a column it needs is absent.
        """
        ...

    def transform(self, frame: Frame) -> Frame:
        """Return a frame whose rows are a subset of ``frame``'s (by ``index``), in order,
        with unique column names.

        :raises NotFittedError: before :meth:`fit`.
        """
        ...


@runtime_checkable
class NeedsHistory(Protocol):
    """Optional, for transforms and detectors: the output for a row depends on earlier rows
    of its channel, within a bounded past."""

    def lookback(self) -> History:
        """Return ``(rows, seconds)``: with the rows within ``seconds`` before a chunk's first
        row and ``rows`` more before those prepended (per channel), every row of the chunk
        gets the output it gets in the whole stream. ``(0, 0.0)``: no history needed."""
        ...


@runtime_checkable
class StreamingTransform(Protocol):
    """Optional carried state: a transform that continues a stream chunk by chunk itself
    (an EWMA's filter state, a rolling window's aligned blocks) rather than having its
    ``lookback()`` rows prepended."""

    def transform_stream(self, frame: Frame, state: Any) -> tuple[Frame, Any]:
        """Transform the next chunk, continuing ``state`` (None: the stream's start); return
        its rows' outputs, equal to the whole stream's, and the state after them."""
        ...


@runtime_checkable
class ReportsSelection(Protocol):
    """Optional, for transforms that select features: ``selection_``, set by ``fit``,
    ``{"kept": [...], "dropped": {feature: reason}, "note": text or None}``; it lands in the
    ``features`` stage's summary and the manifest's ``feature_selection``."""

    selection_: dict[str, Any]


@runtime_checkable
class Scaler(Protocol):
    """A scikit-learn transformer on the feature matrix, fitted on the training part only."""

    def fit(self, X: np.ndarray) -> Any:
        """Learn from the training features. Returns ``self``."""
        ...

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Return the scaled matrix, same shape as ``X``.

        :raises NotFittedError: before :meth:`fit`.
        """
        ...

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        """``fit(X).transform(X)``, possibly faster."""
        ...


# -- detector -----------------------------------------------------------------------------------


@runtime_checkable
class Detector(Protocol):
    """An anomaly detector with scikit-learn's estimator contract: ``__init__`` stores its
    parameters unchanged, fitted attributes end in ``_``, ``clone`` works."""

    def fit(self, X: np.ndarray) -> Any:
        """Fit on the training features (rows x features). Returns ``self``.

        :raises ConfigError: naming ``model.<param>`` for an invalid hyperparameter.
        """
        ...

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Return one finite float per row; **higher = more anomalous**.

        :raises NotFittedError: (or scikit-learn's) before :meth:`fit`.
        """
        ...


@runtime_checkable
class FrameDetector(Detector, Protocol):
    """Optional: a detector that needs timestamps or channels (a forecaster). The chain
    calls these instead of ``fit``/``score_samples``."""

    def fit_frame(self, frame: Frame) -> Any:
        """Fit on the training features with their timestamps and channels. Returns ``self``."""
        ...

    def score_frame(self, frame: Frame) -> np.ndarray:
        """Return one score per row of ``frame``, in its row order (higher = more anomalous)."""
        ...


@runtime_checkable
class SupervisedDetector(Detector, Protocol):
    """Optional: a detector that learns from labels, declared by ``uses_labels = True``.

    The pipeline calls ``fit(X, y)`` with the training part's labels: 1 = a known anomaly,
    0 = a known normal row, :data:`UNLABELLED` (-1) = a row nobody judged (``y`` is None when
    the data has no labels at all). A label column gives 0/1 only; -1 comes from labels
    joined from verdicts (``feedback_labels``), which judge a few rows. A detector that
    cannot tell a known normal row from an unlabelled one takes both as normal
    (:func:`labels_as_binary`). Labels of the validation and test parts never reach ``fit``.
    A detector must still give useful scores when ``y`` holds few or no anomalies (falling
    back to unsupervised scores).
    """

    #: True: give ``fit`` the training labels.
    uses_labels: bool

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> Any:
        """Fit on the training features and their labels (1/0/-1 ``int8``, or None). Returns
        ``self``."""
        ...


@runtime_checkable
class KeepsTrainScores(Protocol):
    """Optional: the detector's own scores of its training rows, set by ``fit`` (LOF's
    outlier factors, PyOD's ``decision_scores_``), so the chain does not score them again.
    They must rank the training rows as ``score_samples`` does."""

    train_scores_: np.ndarray


@runtime_checkable
class ReportsCounts(Protocol):
    """Optional: what the detector did to rows while scoring, for the run's counts."""

    def score_counts(self, frame: Frame) -> dict[str, int]:
        """Return named row counts for scoring ``frame`` (e.g. rows scored with a padded
        window); they are added up over chunks and groups."""
        ...


@runtime_checkable
class DecomposesScore(Protocol):
    """Optional: a detector whose score of a row is a sum of one term per feature, each term
    a function of that feature's value alone (ECOD, COPOD). An explainer then reads each
    feature's exact share of a score instead of rescoring changed rows."""

    def score_terms(self, X: np.ndarray) -> np.ndarray:
        """Return the ``(rows, features)`` terms of ``X``'s rows: term ``[i, j]`` depends on
        ``X[i, j]`` alone, and each row's terms add up to its ``score_samples`` (up to
        rounding)."""
        ...


@runtime_checkable
class StreamingDetector(Protocol):
    """Optional carried state: a detector whose score for a row depends on every earlier row
    of its channel (not a bounded past), scored chunk by chunk with a :data:`State`."""

    def init_state(self) -> State:
        """Return the state before any row has been scored (usually ``{}``)."""
        ...

    def score_stream(self, frame: Frame, state: State) -> tuple[np.ndarray, State]:
        """Score ``frame``'s rows as the continuation of the streams ``state`` summarises.

        :returns: one score per row of ``frame`` (its row order) and the state after them;
            ``state`` itself is left unchanged. Scoring a stream in consecutive chunks this way
            equals scoring it whole.
        """
        ...


@runtime_checkable
class IncrementalDetector(Protocol):
    """Optional: a fitted detector that absorbs new training rows without refitting from
    scratch (``astraguard-train update``). The chain's transforms and scaler stay as fitted,
    so the rows it gets are features in the same space as its training rows."""

    def partial_fit_blocker(self) -> str | None:
        """Why this fitted detector cannot absorb rows (a forecaster whose regressor keeps no
        sufficient statistics), or None when it can."""
        ...

    def partial_fit_frame(self, frame: Frame, exclude: np.ndarray | None = None) -> Any:
        """Learn from ``frame``'s rows as if they followed the training rows (each channel
        continuing its training stream). Returns ``self``.

        A detector whose scores depend on earlier rows sets ``train_scores_`` to the scores
        of ``frame``'s rows (its row order) as the continuation of its training streams,
        under the updated model: what an :class:`UpdatableRule` takes in. Without it, the
        chain scores the rows itself.

        :param exclude: a boolean mask of rows not to learn from (an operator said they are
            anomalous); they still pass through any carried history.
        """
        ...


@runtime_checkable
class KeepsWeightFiles(Protocol):
    """Optional: a detector whose fitted weights travel beside the detector file, as tensors
    that load without running code (a neural network's ``state_dict``), rather than pickled
    with it. The bundle writes them, lists their SHA-256 and hands them back on loading."""

    #: the weights file's extension, with its dot (``.pt``).
    weights_suffix: str

    def save_weights(self, path: Path) -> None:
        """Write the fitted weights (tensors only) to ``path`` (a new file).

        :raises NotFittedError: before ``fit``.
        """
        ...

    def without_weights(self) -> Any:
        """Return a copy holding everything but the weights: what the persister writes."""
        ...

    def load_weights(self, path: Path) -> None:
        """Put the weights in ``path`` back into this copy (from :meth:`without_weights`),
        onto a device this machine has; no code in the file runs."""
        ...


# -- thresholds ---------------------------------------------------------------------------------


@runtime_checkable
class ThresholdRule(Protocol):
    """A threshold that varies by row, returned by a strategy's ``choose`` instead of a
    float. It travels in the bundle, so it must pickle."""

    #: one representative figure (for example the floor), for summaries.
    value: float

    def apply(self, scores: np.ndarray, frame: Frame) -> np.ndarray:
        """Return one finite threshold per row of ``scores`` (aligned with ``frame``'s rows);
        a row is flagged when its score is strictly above its threshold."""
        ...


@runtime_checkable
class StreamingRule(ThresholdRule, Protocol):
    """Optional carried state: a rule whose thresholds depend on earlier rows' scores (a
    window of recent errors), applied chunk by chunk with a :data:`State`."""

    def init_state(self) -> State:
        """Return the state before any row (usually ``{}``: each channel starts fresh)."""
        ...

    def apply_stream(
        self, scores: np.ndarray, frame: Frame, state: State
    ) -> tuple[np.ndarray, State]:
        """Thresholds for ``scores`` as the continuation of the streams ``state`` summarises.

        :returns: one threshold per row and the state after them; ``state`` is left
            unchanged. ``apply(scores, frame)`` equals ``apply_stream(scores, frame,
            init_state())[0]``, and applying consecutive chunks equals applying the whole.
        """
        ...


@runtime_checkable
class UpdatableRule(ThresholdRule, Protocol):
    """Optional: a rule whose thresholds rest on training scores it keeps (a window of recent
    errors), and that can take in the scores of newly absorbed training rows."""

    def absorb(self, scores: np.ndarray, frame: Frame) -> ThresholdRule:
        """Return a new rule that has also seen ``scores`` (the absorbed rows' training
        scores, aligned with ``frame``'s rows, in time order per channel); ``self`` is left
        unchanged."""
        ...


@runtime_checkable
class LearnsVerdicts(ThresholdRule, Protocol):
    """Optional: a rule that operators' verdicts teach, through an update with feedback:
    error levels of alarms judged false are normal for its chain, those of true alarms and
    labelled events are not."""

    def learn_verdicts(self, normal_peaks: np.ndarray, event_peaks: np.ndarray) -> ThresholdRule:
        """Return a new rule that also knows these verdicts: the peak score of each alarm
        judged false (``normal_peaks``) and of each true alarm or labelled event
        (``event_peaks``), under the updated model; ``self`` is left unchanged."""
        ...


@runtime_checkable
class ThresholdStrategy(Protocol):
    """Chooses the decision threshold of a fitted chain from a
    :class:`~astraguard_train.training.fit.ThresholdContext` (never the test part)."""

    def choose(self, context: Any) -> float | ThresholdRule:
        """Return a finite float, or a :class:`ThresholdRule` for per-row thresholds.

        :raises ConfigError: naming ``threshold.<param>`` when the data cannot support the
            strategy (no validation part, no labels).
        """
        ...


@runtime_checkable
class DeclaresTrainScoreNeed(Protocol):
    """Optional: ``needs_train_scores = False`` promises that :meth:`ThresholdStrategy.choose`
    never reads ``context.train_scores``, so the training rows are not scored for it (they
    are None unless the detector keeps its own). Strategies without it are given them."""

    needs_train_scores: bool


@runtime_checkable
class ExplainsChoice(Protocol):
    """Optional: ``info_``, set by ``choose``, a JSON-friendly dict saying how the threshold
    was chosen; it lands in the run's ``threshold_info`` and the bundle."""

    info_: dict[str, Any]


# -- metric and persister -----------------------------------------------------------------------


@runtime_checkable
class Metric(Protocol):
    """What a metric factory returns: a callable on the scored test part."""

    def __call__(
        self, y_true: np.ndarray | None, scores: np.ndarray, flags: np.ndarray, frame: Frame
    ) -> Mapping[str, Any]:
        """Return JSON-friendly figures by name (they join the run's ``metrics``); ``{}`` when
        the metric does not apply (``y_true`` is None for unlabelled data, no timestamps).
        Must not modify its arguments."""
        ...


@runtime_checkable
class Persister(Protocol):
    """Writes and reads the fitted detector inside a bundle."""

    #: the detector file's extension, with its dot (``.joblib``).
    suffix: str

    def dump(self, obj: Any, path: Path) -> None:
        """Write ``obj`` to ``path`` (a new file)."""
        ...

    def load(self, path: Path, trusted: bool = False) -> Any:
        """Return the object in ``path``; the bundle has verified its SHA-256 already.

        :param trusted: someone vouched for the file (a verified signature, or the user said
            so); a format whose loading runs code must refuse the file without it.
        :raises UntrustedBundleError: for such a format when ``trusted`` is False.
        :raises UntrustedTypeError: when the format can refuse types and ``path`` holds one
            outside its allow-list.
        """
        ...


@runtime_checkable
class PersistsBytes(Protocol):
    """Optional: the object as bytes in memory and back. A bundle's per-channel files (one per
    group, thousands of them) are then written and checksummed from the bytes, and read from
    the bytes whose SHA-256 was checked, rather than each file being read twice."""

    def dumps(self, obj: Any) -> bytes:
        """``obj`` as bytes (what :meth:`Persister.dump` would write)."""
        ...

    def loads(self, data: bytes, where: Path, trusted: bool = False) -> Any:
        """The object ``data`` (read from ``where``, its SHA-256 checked) holds; ``trusted``
        as in :meth:`Persister.load`.

        :raises UntrustedBundleError: for a format whose loading runs code, unless trusted.
        """
        ...


# -- explainer ----------------------------------------------------------------------------------


@runtime_checkable
class Explainer(Protocol):
    """Says which features drove a row's score. ``__init__`` stores the parameters only;
    what ``fit`` learns must round-trip through JSON (``fitted_state``/``load_state``)."""

    def fit(self, chain: Any, features: Frame) -> Any:
        """Learn from the chain's training features (the model's inputs). Returns self.

        :raises ConfigError: naming ``explain.<param>``, or ``explain.explainer`` when it
            cannot explain the chain's model.
        """
        ...

    def fitted_state(self) -> dict[str, Any]:
        """What :meth:`fit` learnt, as JSON-friendly data (lists, numbers, text)."""
        ...

    def load_state(self, state: Mapping[str, Any]) -> Any:
        """Restore what :meth:`fitted_state` returned. Returns self."""
        ...

    def explain(
        self, chain: Any, features: Frame, scores: np.ndarray, rows: np.ndarray, rescore: Any
    ) -> Any:
        """Return :class:`~astraguard_train.explain.base.Contributions` for ``rows`` (positions
        in ``features``, one chunk of one chain, whose scores are ``scores``). ``rescore``
        (:class:`~astraguard_train.explain.base.Rescorer`) scores changed features: stacked
        rows when ``rescore.stateless``, else the chunk's rows from ``rescore.state``.
        ``rows`` may be empty."""
        ...


# -- review strategy ----------------------------------------------------------------------------


@runtime_checkable
class ReviewStrategy(Protocol):
    """Chooses which alarms an operator should judge first (``astraguard-train review``)."""

    def select(self, candidates: Any, budget: int) -> Any:
        """Return the positions (ints) of at most ``budget`` distinct
        :class:`~astraguard_train.feedback.review.Candidates`, most useful first. The same
        candidates and budget give the same positions; ``candidates`` is not modified."""
        ...


@runtime_checkable
class ReadsVerdicts(Protocol):
    """Optional: a review strategy that also learns from the verdicts given before; ``review``
    calls :meth:`select_judged` instead of ``select``."""

    def select_judged(self, candidates: Any, budget: int, judged: Any) -> Any:
        """As ``select``, knowing ``judged``
        (:class:`~astraguard_train.feedback.review.Judged`: the candidates earlier verdicts
        cover, and what they said); ``select_judged(candidates, budget, <nothing judged>)``
        equals ``select(candidates, budget)``. Neither argument is modified."""
        ...


# -- not a registered kind, but pluggable by import path ----------------------------------------


@runtime_checkable
class DecisionRule(Protocol):
    """Decides an A/B comparison of a champion and a challenger."""

    def decide(self, comparison: Any) -> Any:
        """Return a :class:`~astraguard_train.retraining.decisions.Decision` (``promote``,
        ``keep`` or ``inconclusive``, with reasons) for a
        :class:`~astraguard_train.retraining.comparison.Comparison`; never modify it."""
        ...


@runtime_checkable
class Regressor(Protocol):
    """A scikit-learn regressor, as the ``forecast`` detector's ``regressor`` names it."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> Any: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


#: Every registered kind's contract.
CONTRACTS: dict[str, type] = {
    "loader": Loader,
    "transform": Transform,
    "scaler": Scaler,
    "model": Detector,
    "persister": Persister,
    "metric": Metric,
    "threshold": ThresholdStrategy,
    "explainer": Explainer,
    "review_strategy": ReviewStrategy,
    "decision_rule": DecisionRule,
}

#: The optional capabilities each kind may have, for documentation and ``plugins`` listings.
CAPABILITIES: dict[str, tuple[type, ...]] = {
    "loader": (ChunkedLoader,),
    "transform": (NeedsHistory, ReportsSelection),
    "scaler": (),
    "model": (
        FrameDetector,
        SupervisedDetector,
        KeepsTrainScores,
        DecomposesScore,
        NeedsHistory,
        StreamingDetector,
        ReportsCounts,
        IncrementalDetector,
        KeepsWeightFiles,
    ),
    "persister": (PersistsBytes,),
    "metric": (),
    "threshold": (DeclaresTrainScoreNeed, ExplainsChoice),
    "explainer": (),
    "review_strategy": (),
    "decision_rule": (),
}


def members(contract: type) -> list[str]:
    """The methods and attributes ``contract`` requires (inherited ones included)."""
    names: list[str] = []
    for cls in reversed(contract.__mro__):
        if cls is Protocol or not getattr(cls, "_is_protocol", False):
            continue
        for name, value in vars(cls).items():
            if callable(value) and (name == "__call__" or not name.startswith("_")):
                names.append(name)
        names += list(vars(cls).get("__annotations__", {}))
    return list(dict.fromkeys(names))


@functools.cache
def _surface(contract: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``contract``'s methods and its other members (attributes), each by name."""
    names = members(contract)
    methods = tuple(n for n in names if callable(getattr(contract, n, None)))
    return methods, tuple(n for n in names if n not in methods)


@functools.cache
def _class_has_methods(cls: type, contract: type) -> bool:
    # looked up in the class's own namespaces: getattr on a class also finds its metaclass's
    # methods (every class has a __call__ that way)
    return all(
        next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None) is not None
        for name in _surface(contract)[0]
    )


def keeps(obj: Any, contract: Callable[..., C]) -> TypeGuard[C]:
    """True when ``obj`` has every member of the protocol ``contract``: its methods on its
    class, its attributes on ``obj`` itself (they are set by ``fit`` or ``__init__``).

    What ``isinstance(obj, contract)`` asks of a runtime protocol, but the methods are looked
    up once per class: a runtime protocol's ``isinstance`` collects the protocol's members
    afresh each call (5-10 us), paid per channel, several times over, by a fleet's thousands
    of chains. A method must be defined on the class (as the contracts' stubs show), not
    set on the instance; a method set to None on the class is missing, as for ``isinstance``.
    """
    protocol = cast(type, contract)  # a Callable to mypy, which takes no protocol as a type
    if isinstance(obj, type):  # a class asked about (a plugin's factory): its own attributes
        return isinstance(obj, protocol)
    cls: type = obj.__class__
    return _class_has_methods(cls, protocol) and all(
        hasattr(obj, name) for name in _surface(protocol)[1]
    )


def missing(obj: Any, contract: type) -> list[str]:
    """The members of ``contract`` that ``obj`` lacks."""
    return [n for n in members(contract) if not hasattr(obj, n)]


def require(obj: Any, kind: str, where: str) -> Any:
    """Return ``obj`` when it keeps its kind's contract.

    :raises PluginError: naming ``where``, the object's class and the missing members.
    """
    contract = CONTRACTS[kind]
    if isinstance(obj, contract):
        return obj
    lacks = ", ".join(missing(obj, contract))
    raise PluginError(
        f"{where}: {type(obj).__name__} does not keep the {kind} contract "
        f"({contract.__name__}): it lacks {lacks}"
    )


# -- the core's calls: the only place optional capabilities are looked for ---------------------


def uses_labels(model: Any) -> TypeGuard[SupervisedDetector]:
    """True when ``model`` is a :class:`SupervisedDetector` that declared ``uses_labels``."""
    return keeps(model, SupervisedDetector) and bool(model.uses_labels)


def check_labels(y: Any, n_rows: int) -> np.ndarray:
    """``y`` as ``int8`` labels of ``n_rows`` rows: 1, 0 or :data:`UNLABELLED` (None: every
    row unlabelled).

    :raises ValueError: for another value, or not one label per row.
    """
    if y is None:
        return np.full(n_rows, UNLABELLED, dtype=np.int8)
    arr = np.asarray(y)
    if arr.shape != (n_rows,):
        raise ValueError(f"y: one label per row expected ({n_rows}), got shape {arr.shape}")
    bad = ~np.isin(arr, (1, 0, UNLABELLED))
    if bad.any():
        values = ", ".join(str(v) for v in np.unique(arr[bad])[:5])
        raise ValueError(f"y: labels are 1 (anomaly), 0 (normal) or {UNLABELLED} "
                         f"(unlabelled), got {values}")
    return arr.astype(np.int8)


def labels_as_binary(y: Any, n_rows: int) -> np.ndarray:
    """``y`` for a detector that learns from 0/1 labels only: 1 for a known anomaly, 0 for a
    known normal *or unlabelled* row (all 0 when ``y`` is None).

    :raises ValueError: as :func:`check_labels`.
    """
    return (check_labels(y, n_rows) == 1).astype(np.int8)


def label_using_models(registry: Any) -> list[str]:
    """The registered model names whose factory (a class) declares ``uses_labels``, so they
    can be listed without building one."""
    return [
        name
        for name in registry.names("model")
        if uses_labels(registry.get("model", name).factory)
    ]


def fit_detector(model: Detector, features: Frame) -> None:
    """Fit ``model`` on ``features``: through ``fit_frame`` when it is a
    :class:`FrameDetector`, ``fit(features.X, features.labels)`` when it
    :func:`uses_labels`, else ``fit(features.X)``.

    ``features`` is the training part only, so only its labels can reach a detector.
    """
    if keeps(model, FrameDetector):
        model.fit_frame(features)
    elif uses_labels(model):
        model.fit(features.X, features.labels)
    else:
        model.fit(features.X)


def score_detector(model: Detector, features: Frame) -> np.ndarray:
    """Score ``features``: ``score_frame`` for a :class:`FrameDetector`, else
    ``score_samples(features.X)``."""
    if keeps(model, FrameDetector):
        return model.score_frame(features)
    return model.score_samples(features.X)


def persists_bytes(persister: Persister) -> TypeGuard[PersistsBytes]:
    """True when ``persister`` writes and reads bytes in memory (:class:`PersistsBytes`)."""
    return keeps(persister, PersistsBytes)


def train_scores(model: Detector) -> np.ndarray | None:
    """The detector's own scores of its training rows, or None when it keeps none."""
    # keeps(model, KeepsTrainScores), and the attribute read, in one lookup
    own = getattr(model, "train_scores_", None)
    return None if own is None else np.asarray(own, dtype=np.float64)


def score_terms(model: Detector, X: np.ndarray) -> np.ndarray | None:
    """The detector's per-feature score terms of ``X`` (:class:`DecomposesScore`), ``(rows,
    features)``; None when its score is not such a sum."""
    if keeps(model, DecomposesScore):
        return np.asarray(model.score_terms(X), dtype=np.float64)
    return None


def lookback(step: Any) -> History:
    """A transform's or detector's :meth:`NeedsHistory.lookback`, ``(0, 0.0)`` without one."""
    if keeps(step, NeedsHistory):
        rows, seconds = step.lookback()
        return int(rows), float(seconds)
    return NO_HISTORY


def selection_report(step: Any) -> dict[str, Any] | None:
    """A transform's :class:`ReportsSelection` report, None when it selects nothing."""
    if keeps(step, ReportsSelection):
        return dict(step.selection_)
    return None


def score_counts(model: Detector, frame: Frame) -> dict[str, int]:
    """The detector's :meth:`ReportsCounts.score_counts` for ``frame``, ``{}`` without one."""
    if keeps(model, ReportsCounts):
        return {str(k): int(v) for k, v in model.score_counts(frame).items()}
    return {}


def update_blocker(model: Detector) -> str | None:
    """Why ``model`` cannot absorb new rows incrementally, or None when it can."""
    if not keeps(model, IncrementalDetector):
        return f"{type(model).__name__} has no incremental update (partial_fit_frame)"
    return model.partial_fit_blocker()


def absorb(threshold: Any, scores: np.ndarray, frame: Frame) -> Any:
    """``threshold`` after taking in the absorbed rows' ``scores``: a new rule for an
    :class:`UpdatableRule`, else ``threshold`` itself (a fixed number stays as chosen)."""
    if keeps(threshold, UpdatableRule):
        return threshold.absorb(scores, frame)
    return threshold


def learn_verdicts(threshold: Any, normal_peaks: np.ndarray, event_peaks: np.ndarray) -> Any:
    """``threshold`` taught by verdicts' peak scores when it keeps :class:`LearnsVerdicts`,
    else ``threshold`` itself (a number stays as chosen)."""
    if keeps(threshold, LearnsVerdicts):
        return threshold.learn_verdicts(normal_peaks, event_peaks)
    return threshold


def detach_weights(model: Detector, directory: Path, stem: str) -> tuple[Any, str | None]:
    """Write a :class:`KeepsWeightFiles` model's weights to ``directory/stem<suffix>``.

    :returns: the model as the persister should write it (without its weights) and the
        weights file's name; ``(model, None)`` for a model without weight files.
    """
    if not keeps(model, KeepsWeightFiles):
        return model, None
    name = f"{stem}{model.weights_suffix}"
    model.save_weights(directory / name)
    return model.without_weights(), name


def attach_weights(model: Detector, path: Path, where: str) -> None:
    """Put the weights in ``path`` back into ``model`` (:meth:`KeepsWeightFiles.load_weights`).

    :raises PluginError: naming ``where`` when the model keeps no weight files.
    """
    if not keeps(model, KeepsWeightFiles):
        raise PluginError(
            f"{where}: {type(model).__name__} has no load_weights, but {path.name} holds "
            f"weights for it"
        )
    model.load_weights(path)


def is_rule(threshold: Any) -> TypeGuard[ThresholdRule]:
    """True when ``threshold`` is a per-row :class:`ThresholdRule`, not a number."""
    return keeps(threshold, ThresholdRule)


def needs_train_scores(strategy: ThresholdStrategy) -> bool:
    """False only when the strategy declared that it never reads the training scores."""
    if keeps(strategy, DeclaresTrainScoreNeed):
        return bool(strategy.needs_train_scores)
    return True


def choice_info(strategy: ThresholdStrategy) -> dict[str, Any]:
    """How the strategy chose its threshold (its ``info_``), ``{}`` when it does not say."""
    if keeps(strategy, ExplainsChoice):
        return dict(strategy.info_ or {})
    return {}


def read_chunks(loader: Loader, rows: int, source: Any = None) -> Iterator[Frame]:
    """``loader``'s chunks of ``rows`` rows, or its whole frame when it cannot stream."""
    if keeps(loader, ChunkedLoader):
        return loader.iter_chunks(rows, source)
    return iter([loader.load(source)])
