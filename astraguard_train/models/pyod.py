"""PyOD detectors, registered as ``pyod.<lowercase class name>`` when PyOD is installed.

Registration must stay fast (every command and test builds a registry), and importing all of
PyOD's detectors costs about a second. So the installed PyOD is *read*, not imported: each
module of ``pyod.models`` is parsed, and a detector is registered when

- its class derives from PyOD's ``BaseDetector``;
- every module it imports (directly, or through the PyOD modules it imports) is installed, so
  detectors needing the optional deep-learning stack (torch, torch_geometric, ...), ``combo``,
  ``suod`` or ``xgboost`` are left out when those are absent;
- it has no required constructor argument (``LSCP`` needs a list of fitted detectors,
  ``EmbeddingOD`` an encoder: neither can be given in a TOML table);
- it scores rows of a feature table: the time-series detectors of ``pyod.models.ts_*`` score
  sliding windows of one series or cannot score new data at all (``MatrixProfile``), and the
  windowed features of the ``transforms`` stage do that job here;
- it keeps the sign convention: :data:`EXCLUDED` lists the few that do not, and why.

Each registered name maps to a small wrapper class (a :class:`PyODDetector` subclass) whose
``__init__`` has the PyOD class's signature, so the registry checks ``[model]`` keys against
it and ``get_params``/``clone`` work. PyOD itself is imported in ``fit``. PyOD's
``decision_function`` already means higher = more anomalous; its ``decision_scores_`` (scores
of the training rows) become ``train_scores_``.

Defaults that are not plain literals in PyOD's source (rare) show as :data:`PYOD_DEFAULT` and
are left to PyOD.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np

from ..errors import ConfigError
from .base import WrappedDetector

PREFIX = "pyod."

#: PyOD modules that hold bases or helpers, not detectors.
_NOT_DETECTORS = frozenset({"base", "base_dl", "sklearn_base", "thresholds", "gaal_base"})

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
}


class _PyODDefault:
    """Stands for a PyOD default that is not a literal in its source; PyOD applies its own."""

    def __repr__(self) -> str:
        return "<pyod default>"

    def __reduce__(self) -> str:
        return "PYOD_DEFAULT"


PYOD_DEFAULT = _PyODDefault()


@attrs.frozen
class PyODSpec:
    """One PyOD detector found in the installed package."""

    module: str
    cls: str
    params: tuple[tuple[str, Any], ...]
    description: str

    @property
    def name(self) -> str:
        return PREFIX + self.cls.lower()

    @property
    def wrapper_name(self) -> str:
        return f"PyOD_{self.cls}"


# -- reading the installed PyOD -------------------------------------------------------------


def _models_dir() -> Path | None:
    try:
        spec = importlib.util.find_spec("pyod")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models"
    return path if path.is_dir() else None


@functools.cache
def _installed(top: str) -> bool:
    if top in sys.stdlib_module_names or top == "pyod":
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def _imports(tree: ast.Module, package: str) -> tuple[set[str], set[str]]:
    """(top-level third-party names, PyOD modules) imported anywhere in a module of
    ``pyod.<package>``; PyOD modules are named relative to ``pyod`` (``"utils.torch_utility"``).

    Absolute and relative imports both count: PyOD's deep detectors reach ``torch`` and
    ``tqdm`` through ``pyod.models.base_dl`` and ``pyod.utils.torch_utility``.
    """
    tops: set[str] = set()
    internal: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                head, _, rest = alias.name.partition(".")
                if head == "pyod":
                    internal.add(rest)
                else:
                    tops.add(head)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                head, _, rest = (node.module or "").partition(".")
                if head != "pyod":
                    tops.add(head)
                    continue
                base = rest
            else:  # relative to pyod.<package> (level 1) or to pyod itself (level 2)
                base = ".".join(filter(None, (package if node.level == 1 else "", node.module)))
            if base:
                internal.add(base)
            # ``from pyod.models import lof`` names modules, not attributes
            internal.update(".".join(filter(None, (base, a.name))) for a in node.names)
    return tops, internal


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return PYOD_DEFAULT


def _init_params(cls: ast.ClassDef) -> tuple[tuple[str, Any], ...] | None:
    """The constructor's (name, default) pairs; None when one is required or there is none."""
    init = next(
        (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None
    )
    if init is None:
        return None
    args = init.args
    positional = args.posonlyargs + args.args
    if args.vararg is not None or len(args.defaults) < len(positional) - 1:
        return None
    with_default = positional[len(positional) - len(args.defaults) :]
    out = [(a.arg, _literal(d)) for a, d in zip(with_default, args.defaults, strict=True)]
    for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if d is None:
            return None
        out.append((a.arg, _literal(d)))
    return tuple(out)


def _base_names(cls: ast.ClassDef) -> set[str]:
    names = set()
    for b in cls.bases:
        if isinstance(b, ast.Name):
            names.add(b.id)
        elif isinstance(b, ast.Attribute):
            names.add(b.attr)
    return names


def _summary(doc: str, limit: int = 90) -> str:
    """The first sentence of a docstring's first paragraph, cut to ``limit`` characters."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    sentence = paragraph.split(". ")[0].rstrip(".")
    return sentence if len(sentence) <= limit else sentence[: limit - 3].rstrip() + "..."


@functools.cache
def discover(models_dir: Path | None = None) -> tuple[PyODSpec, ...]:
    """Return the usable detectors of the installed PyOD (empty without PyOD), by reading
    ``pyod/models/*.py`` without importing it."""
    models_dir = models_dir or _models_dir()
    if models_dir is None:
        return ()
    deps: dict[str, tuple[set[str], set[str]]] = {}
    trees: dict[str, ast.Module] = {}  # the detector modules, by file stem
    for package, folder in (("models", models_dir), ("utils", models_dir.parent / "utils")):
        for path in sorted(folder.glob("*.py")):
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (OSError, SyntaxError, UnicodeDecodeError):
                continue
            deps[f"{package}.{path.stem}"] = _imports(tree, package)
            if package == "models":
                trees[path.stem] = tree

    @functools.cache
    def importable(module: str, seen: frozenset[str] = frozenset()) -> bool:
        if module not in deps:
            return False
        tops, internal = deps[module]
        if not all(_installed(t) for t in tops):
            return False
        return all(
            importable(m, seen | {module}) for m in internal if m in deps and m not in seen
        )

    classes = {
        node.name: (module, node)
        for module, tree in trees.items()
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }

    @functools.cache
    def is_detector(name: str) -> bool:
        if name == "BaseDetector":
            return True
        if name not in classes:
            return False
        return any(is_detector(b) for b in _base_names(classes[name][1]) if b != name)

    found: list[PyODSpec] = []
    for name, (module, node) in sorted(classes.items()):
        if module in _NOT_DETECTORS or module.startswith(("_", "ts_")) or name in EXCLUDED:
            continue
        if name.startswith(("_", "Base")):
            continue
        if not is_detector(name) or not importable(f"models.{module}"):
            continue
        params = _init_params(node)
        if params is None:
            continue
        summary = _summary(ast.get_docstring(node) or "")
        found.append(
            PyODSpec(
                module=f"pyod.models.{module}",
                cls=name,
                params=params,
                description=f"PyOD {name}: {summary}" if summary else f"PyOD {name}",
            )
        )
    return tuple(found)


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

    def fit(self, X: np.ndarray, y: object = None) -> PyODDetector:
        """Fit the PyOD detector on ``X``; return ``self``.

        :raises ConfigError: naming ``model.<param>`` when PyOD rejects a parameter value.
        """
        try:
            return super().fit(X)  # type: ignore[return-value]
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
        (PyODDetector,),
        {
            "__init__": __init__,
            "__doc__": spec.description,
            "__module__": __name__,
            "__qualname__": spec.wrapper_name,
            "spec": spec,
            "name": spec.name,
        },
    )


@functools.cache
def wrappers() -> dict[str, type[PyODDetector]]:
    """The wrapper class of every usable PyOD detector, by registered name."""
    return {s.name: _wrapper(s) for s in discover()}


def __getattr__(attr: str) -> Any:
    # Bundles pickle wrappers by module attribute name; create them on first access.
    for cls in wrappers().values():
        if cls.__name__ == attr:
            return cls
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
