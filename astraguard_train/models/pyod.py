"""PyOD detectors, registered as ``pyod.<lowercase class name>`` when PyOD is installed.

Registration must stay fast (every command and test builds a registry), and importing all of
PyOD's detectors costs about a second. So the detectors are listed in a table kept in the
code, :data:`astraguard_train.models.pyod_table.DETECTORS` (class, module, one-line
description, constructor parameters with PyOD's defaults, and the optional packages it needs),
and PyOD is imported only when a detector is fitted. ``tests/test_pyod.py`` checks the table
against the installed PyOD's classes and signatures, so a PyOD release that adds, drops or
changes a detector fails there rather than at a user's fit.

A detector of the table is registered when PyOD is installed with its module, and every
optional package it needs (``torch``, ``torch_geometric``, ``combo``, ``suod``, ``xgboost``,
...) is installed: looked up with :func:`importlib.util.find_spec`, which imports nothing.

The table holds the detectors that score rows of a feature table, with no required
constructor argument (``LSCP`` needs a list of fitted detectors, ``EmbeddingOD`` an encoder:
neither can be given in a TOML table), and not the time-series detectors of
``pyod.models.ts_*`` (they score sliding windows of one series, or cannot score new data at
all; the windowed features of the ``transforms`` stage do that job here). :data:`EXCLUDED`
lists the detectors left out although they would qualify, and why.

Each registered name maps to a small wrapper class (a :class:`PyODDetector` subclass) whose
``__init__`` has the PyOD class's signature, so the registry checks ``[model]`` keys against
it and ``get_params``/``clone`` work. PyOD's ``decision_function`` already means higher = more
anomalous; its ``decision_scores_`` (scores of the training rows) become ``train_scores_``.

ECOD and COPOD are the exception: PyOD scores a batch against the training rows and the batch
itself, so a row's score would depend on the rows scored with it. Their wrappers
(:class:`PyODTailDetector`) score each row on its own against the training rows
(:mod:`astraguard_train.models.tail_terms`), as a sum of per-feature terms they also give
(``score_terms``: the :class:`~astraguard_train.plugins.contracts.DecomposesScore`
capability), which explainers use as each feature's exact share of the score.

Defaults that are not plain values (rare) show as :data:`PYOD_DEFAULT` and are left to PyOD.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError
from .base import WrappedDetector
from .pyod_table import DETECTORS, PREFIX, PYOD_DEFAULT, PyODSpec
from .tail_terms import RULES, Tails, tail_terms

__all__ = [
    "DETECTORS", "EXCLUDED", "PREFIX", "PYOD_DEFAULT", "PyODDetector", "PyODSpec",
    "PyODTailDetector", "discover",
]

#: PyOD detectors left out although they import, by class name, with the reason.
EXCLUDED: dict[str, str] = {
    "MAD": "univariate only (one feature column)",
    "QMCD": "can score a clearly planted outlier below the inliers (yzhao062/pyod#549)",
    "RGraph": "scores a clearly planted outlier below the inliers on small samples",
    "KPCA": "ranks a far training outlier below the median of its training scores (the RBF "
    "kernel vanishes far from the data)",
    "HDBSCAN": "its GLOSH scores saturate at 1 for every noise point, so a planted outlier ties "
    "with the inliers on small or spread-out data",
    # deep detectors, registered only when torch is installed
    "DevNet": "semi-supervised: its fit needs anomaly labels",
    "MO_GAAL": "a fitted model holds classes defined inside a function, so it cannot be saved "
    "in a bundle",
    "ALAD": "its training scores and a second scoring of the same rows disagree (rank "
    "correlation 0.3), so a threshold from training does not fit its scores",
    "AnoGAN": "its training scores and a second scoring of the same rows are unrelated (rank "
    "correlation 0.01), so a threshold from training does not fit its scores",
    "VAE": "it samples its latent code when scoring: the same rows score differently on every "
    "call (rank correlation 0.34 with its training scores), so chunks and bundles disagree",
}


# -- what the installed PyOD provides ---------------------------------------------------------


def _pyod_dir() -> Path | None:
    """PyOD's package directory, found without importing it (None: not installed)."""
    try:
        spec = importlib.util.find_spec("pyod")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def _installed(top: str) -> bool:
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


@functools.cache
def discover() -> tuple[PyODSpec, ...]:
    """The detectors of the table that the installed PyOD and packages can run (empty
    without PyOD); imports neither PyOD nor what its detectors need."""
    root = _pyod_dir()
    if root is None:
        return ()
    return tuple(
        spec
        for spec in DETECTORS
        if spec.cls not in EXCLUDED
        and (root / "models" / f"{spec.module.rpartition('.')[2]}.py").is_file()
        and all(_installed(top) for top in spec.requires)
    )


# -- the wrapper ------------------------------------------------------------------------------


class PyODDetector(WrappedDetector):
    """Base of the generated wrappers: builds the PyOD detector in ``fit``.

    Subclasses set ``spec`` and get an ``__init__`` with the PyOD class's signature.
    """

    spec: ClassVar[PyODSpec]

    def _build(self) -> Any:
        cls = getattr(importlib.import_module(self.spec.module), self.spec.cls)
        params = {k: v for k, v in self.get_params().items() if v is not PYOD_DEFAULT}
        return cls(**params)

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> PyODDetector:
        """Fit the PyOD detector on ``X`` (and ``y`` for one that ``uses_labels``); return
        ``self``.

        :raises ConfigError: naming ``model.<param>`` when PyOD rejects a parameter value.
        """
        try:
            return super().fit(X, y)  # type: ignore[return-value]
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            key = self._param_in(str(exc))
            if key is None:
                raise
            raise ConfigError(f"model.{key}: invalid value for model '{self.name}': {exc}") from exc

    def _param_in(self, message: str) -> str | None:
        """The parameter the user set that PyOD's error message names, if any."""
        defaults = dict(self.spec.params)
        for key, value in self.get_params().items():
            if not _same(value, defaults.get(key)) and re.search(rf"\b{re.escape(key)}\b", message):
                return key
        return None

    def _own_train_scores(self) -> np.ndarray | None:
        return getattr(self.estimator_, "decision_scores_", None)

    def _anomaly_scores(self, X: np.ndarray) -> np.ndarray:
        return self.estimator_.decision_function(X)


class PyODTailDetector(PyODDetector):
    """Base of the ECOD and COPOD wrappers: each row scored on its own against the training
    rows, as a sum of per-feature terms (see :mod:`astraguard_train.models.tail_terms`).
    ``train_scores_`` stay PyOD's scores of the training rows against themselves."""

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> PyODTailDetector:
        """Fit as :meth:`PyODDetector.fit`; return ``self``."""
        self.__dict__.pop("_tails", None)  # a refit has other training rows
        super().fit(X, y)
        return self

    def score_terms(self, X: np.ndarray) -> np.ndarray:
        """Return each row's per-feature terms, ``(rows, features)``; a row's terms add up to
        its :meth:`score_samples` and term ``[i, j]`` depends on ``X[i, j]`` alone.

        :raises sklearn.exceptions.NotFittedError: before :meth:`fit`.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "estimator_")
        tails = self.__dict__.get("_tails")
        if tails is None:  # once per process: not pickled, so bundles of any age get it
            tails = self._tails = Tails.of(self.estimator_.X_train)
        return tail_terms(tails, X, self.spec.cls)

    def _anomaly_scores(self, X: np.ndarray) -> np.ndarray:
        return self.score_terms(X).sum(axis=1)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_tails", None)
        return state


def _same(a: Any, b: Any) -> bool:
    try:
        return a is b or (type(a) is type(b) and bool(a == b))
    except (TypeError, ValueError):  # arrays and other values without a plain equality
        return False


def _wrapper(spec: PyODSpec) -> type[PyODDetector]:
    names = [n for n, _ in spec.params]
    defaults = dict(spec.params)

    def __init__(self: PyODDetector, **params: Any) -> None:
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise TypeError(f"{spec.name}: unexpected parameter(s) {', '.join(unknown)}")
        for n in names:
            setattr(self, n, params.get(n, defaults[n]))

    P = inspect.Parameter
    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [P("self", P.POSITIONAL_OR_KEYWORD)]
        + [P(n, P.POSITIONAL_OR_KEYWORD, default=defaults[n]) for n in names]
    )
    __init__.__qualname__ = f"{spec.wrapper_name}.__init__"
    return type(
        spec.wrapper_name,
        (PyODTailDetector if spec.cls in RULES else PyODDetector,),
        {
            "__init__": __init__,
            "__doc__": spec.description,
            "__module__": __name__,
            "__qualname__": spec.wrapper_name,
            "spec": spec,
            "name": spec.name,
            # only label-using detectors carry the declaration (SupervisedDetector)
            **({"uses_labels": True} if spec.uses_labels else {}),
        },
    )


@functools.cache
def wrappers() -> dict[str, type[PyODDetector]]:
    """The wrapper class of every usable PyOD detector, by registered name."""
    return {s.name: _wrapper(s) for s in discover()}


def __getattr__(attr: str) -> Any:
    # Bundles pickle wrappers by module attribute name; create them on first access. Only
    # wrapper names look at the table (the import system asks for others, e.g. __path__).
    if attr.startswith("PyOD_"):
        for cls in wrappers().values():
            if cls.__name__ == attr:
                return cls
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
