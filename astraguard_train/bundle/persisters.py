"""Built-in persisters: ``joblib`` (fast, pickle) and ``skops`` (no code runs on load).

A persister has ``suffix`` (the detector file's extension), ``dump(obj, path)`` and
``load(path, trusted=False)``; ``joblib`` also has ``dumps``/``loads`` (bytes in memory,
:class:`~astraguard_train.plugins.contracts.PersistsBytes`). ``trusted`` says that someone
vouched for the file (its bundle's signature was verified, or the caller trusts its source):
a persister whose load can run code must refuse without it. Bundles verify every file's
SHA-256 before ``load`` is called; ``joblib`` then unpickles only a trusted file, and
``skops`` refuses any type outside its allow-list whatever ``trusted`` says, so a bundle
from an untrusted source cannot run code.
"""

from __future__ import annotations

import importlib
import inspect
import io
import pickle
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import joblib

from ..errors import BundleError, UntrustedBundleError, UntrustedTypeError


class JoblibPersister:
    """joblib pickle: fastest; unpickling runs code, so it loads only trusted files."""

    suffix = ".joblib"

    def __init__(self, compress: int = 0) -> None:
        self.compress = compress

    def dump(self, obj: Any, path: Path) -> None:
        joblib.dump(obj, path, compress=self.compress)

    def load(self, path: Path, trusted: bool = False) -> Any:
        """Return the object in ``path``.

        :raises UntrustedBundleError: unless ``trusted``: unpickling runs the file's code.
        """
        _refuse_untrusted(path, trusted)
        return joblib.load(path)

    def dumps(self, obj: Any) -> bytes:
        """``obj`` as bytes that depend on its value only (a bundle's per-channel files).

        Pickled by the C pickler without its memo: with one, an object met twice is written
        once, so the bytes would depend on which equal objects the writing process happened
        to share (arrays sent back from a worker each bring their own dtype object). An
        object that refers to itself cannot go without the memo and is pickled with it.
        Compressed with zlib at ``compress`` when it is not 0.
        """
        out = io.BytesIO()
        pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.fast = True  # no memo: see above
        try:
            pickler.dump(obj)
            data = out.getvalue()
        except (ValueError, RecursionError):  # a cycle (fast mode cannot follow one)
            data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        return zlib.compress(data, self.compress) if self.compress else data

    def loads(self, data: bytes, where: Path, trusted: bool = False) -> Any:
        """The object :meth:`dumps` turned into ``data`` (read from ``where``).

        :raises UntrustedBundleError: unless ``trusted``.
        """
        _refuse_untrusted(where, trusted)
        if data[:1] != pickle.PROTO:  # compressed
            data = zlib.decompress(data)
        return pickle.loads(data)


def _refuse_untrusted(path: Path, trusted: bool) -> None:
    if not trusted:
        raise UntrustedBundleError(
            f"{path}: refusing to unpickle: a joblib file runs code when loaded, and this "
            "one is neither signature-verified nor marked trusted"
        )


#: Modules whose classes the ``skops`` persister accepts without being told.
ALLOWED_MODULES: tuple[str, ...] = ("astraguard_train", "sklearn", "numpy", "scipy")

_ENVELOPE = "astraguard_train.TrainedDetector"


def _is_allowed(type_name: str, extra: Sequence[str]) -> bool:
    """True when ``type_name`` is listed in ``extra``, or is a class in an allowed module.

    Functions are refused even in allowed modules: a persisted detector needs classes only.
    """
    if type_name in extra:
        return True
    module, _, attr = type_name.rpartition(".")
    if module.split(".")[0] not in ALLOWED_MODULES:
        return False
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return False
    return inspect.isclass(obj)


def _to_envelope(obj: Any) -> Any:
    # skops cannot store dict keys that are not str/int (our group key None), so the
    # detector's fields go into plain containers, dicts keyed by anything as [key, value] pairs.
    from ..training.detector import TrainedDetector

    if not isinstance(obj, TrainedDetector):
        return obj
    fields: dict[str, Any] = {}
    pairs: dict[str, list[list[Any]]] = {}
    for f in attrs.fields(type(obj)):
        value = getattr(obj, f.name)
        if isinstance(value, dict) and not all(isinstance(k, str) for k in value):
            pairs[f.name] = [[k, v] for k, v in value.items()]
        else:
            fields[f.name] = value
    return {"envelope": _ENVELOPE, "fields": fields, "pairs": pairs}


def _from_envelope(obj: Any) -> Any:
    from ..training.detector import TrainedDetector

    if not (isinstance(obj, dict) and obj.get("envelope") == _ENVELOPE):
        return obj
    values = dict(obj["fields"])
    values.update({name: {k: v for k, v in items} for name, items in obj["pairs"].items()})
    return TrainedDetector(**values)


def _skops_io() -> Any:
    try:
        import skops.io as sio
    except ImportError:  # pragma: no cover - depends on the environment
        raise BundleError(
            "the skops persister needs skops: pip install 'astraguard-train[skops]'"
        ) from None
    return sio


class SkopsPersister:
    """skops: no code runs on load; only allow-listed types (ours, scikit-learn, numpy, scipy).

    :param compression: a ``zipfile`` compression constant (0 = stored, 8 = deflated).
    :param trusted: further fully qualified type names to accept (for a third-party plugin's
        detector class, say); everything else outside the allow-list is refused.
    """

    suffix = ".skops"

    def __init__(self, compression: int = 0, trusted: Sequence[str] = ()) -> None:
        self.compression = compression
        self.trusted = trusted

    def dump(self, obj: Any, path: Path) -> None:
        sio = _skops_io()
        sio.dump(_to_envelope(obj), path, compression=self.compression)

    def untrusted_types(self, path: Path) -> list[str]:
        """Return the types in ``path`` that are outside the allow-list."""
        sio = _skops_io()
        try:
            names = sio.get_untrusted_types(file=path)
        except Exception as exc:  # a corrupt archive: any error from the reader
            raise BundleError(f"{path}: not a readable skops file: {exc}") from None
        return [n for n in names if not _is_allowed(n, list(self.trusted))]

    def load(self, path: Path, trusted: bool = False) -> Any:
        """Return the object in ``path``; no code runs, so ``trusted`` changes nothing.

        :raises UntrustedTypeError: naming the file and each refused type.
        """
        sio = _skops_io()
        refused = self.untrusted_types(path)
        if refused:
            raise UntrustedTypeError(
                f"{path}: refusing to load type(s) outside the skops allow-list: "
                f"{', '.join(refused)}; if you trust them, add them to [persist] trusted"
            )
        return _from_envelope(sio.load(path, trusted=sio.get_untrusted_types(file=path)))
