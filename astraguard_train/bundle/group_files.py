"""One file per group's chain, so a bundle of thousands of chains loads only those it uses.

A detector with ``group_by`` (one chain per channel, say) is written as::

    detector.joblib      the TrainedDetector without its chains and thresholds
    groups.json          per group, in training order: its key, file, SHA-256 and threshold
    groups/000000.joblib one group's chain and threshold (the persister's format)

A persister with ``dumps``/``loads`` writes each group file from bytes in memory, checksummed
as they are written and read back from the bytes that were checked (``from_bytes`` in the
index); one without writes and reads files (``dump``/``load``).

``groups.json`` is listed in the manifest like any file, and lists the group files with their
SHA-256 in turn, so the manifest stays short however many groups there are. Loading reads the
detector and the index; a group's file is read (its SHA-256 checked first) when the group is
first used, by :class:`GroupFiles` behind the detector's ``chains`` and ``thresholds``
mappings. :func:`verify_groups` checks every group file (``models verify``).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from ..errors import IntegrityError
from ..plain_values import jsonable
from ..plugins import contracts

GROUPS_DIR = "groups"
GROUPS_INDEX = "groups.json"
#: The manifest key naming the index (present only in bundles with group files).
MANIFEST_KEY = "group_files"
#: Threads writing group files at once (see :func:`write_groups`).
WRITE_THREADS = 4
_FILE = re.compile(rf"{GROUPS_DIR}/[0-9]+\.[a-z]+")  # a plain file directly in groups/


def n_groups(manifest: Mapping[str, Any]) -> int:
    """How many chains a bundle holds: ``n_groups`` when they are in their own files, else the
    length of the manifest's ``groups`` list (one chain without ``group_by``)."""
    return int(manifest.get("n_groups", len(manifest.get("groups") or [])))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path``; return its SHA-256."""
    path.write_bytes(data)
    return _digest(data)


def write_groups(
    detector: Any, persister: Any, directory: Path
) -> tuple[Any, bytes, list[Path]]:
    """Write each group's chain and threshold to ``directory/groups/``.

    :returns: the detector without chains and thresholds (to write as the detector file),
        the text of the index (to write as ``groups.json``) and the files written.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    from ..training.detector import threshold_value

    (directory / GROUPS_DIR).mkdir()
    dumps = persister.dumps if contracts.persists_bytes(persister) else None
    entries = []
    # Files made from bytes are written and hashed by threads while the next groups are
    # pickled: creating each of a fleet's thousands of files waits on the file system, and
    # both leave the GIL free.
    with ThreadPoolExecutor(WRITE_THREADS) as pool:
        digests: list[Future[str] | str] = []
        for i, (key, chain) in enumerate(detector.chains.items()):
            name = f"{GROUPS_DIR}/{i:06d}{persister.suffix}"
            threshold = detector.thresholds[key]
            group = {"chain": chain, "threshold": threshold}
            if dumps is not None:
                digests.append(pool.submit(_write, directory / name, dumps(group)))
            else:
                persister.dump(group, directory / name)
                digests.append(_digest((directory / name).read_bytes()))
            entries.append({
                "key": jsonable(key),
                "file": name,
                "sha256": "",
                "threshold": threshold_value(threshold),
            })
        for entry, digest in zip(entries, digests, strict=True):
            entry["sha256"] = digest if isinstance(digest, str) else digest.result()  # raises
    from ..training.streaming import Scorer

    skeleton = attrs.evolve(detector, chains={}, thresholds={})
    index = {
        "from_bytes": dumps is not None,
        "stateless": Scorer(detector).stateless,
        "input_columns": list(detector.input_columns),
        "output_columns": list(detector.output_columns),
        "groups": entries,
    }
    text = json.dumps(index, indent=1).encode("utf-8")
    return skeleton, text, [directory / e["file"] for e in entries]


def read_index(path: Path, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The group index of the bundle at ``path`` (which the manifest's digest covers):
    ``groups``, the entries, and ``stateless`` (see :attr:`Scorer.stateless`).

    :raises IntegrityError: when the index has the wrong shape or names a file outside
        ``groups/``.
    """
    where = path / manifest[MANIFEST_KEY]
    try:
        index = json.loads(where.read_bytes())
        entries = index["groups"]
        if not isinstance(index["stateless"], bool):
            raise TypeError("'stateless' is not true or false")
        if not isinstance(index.get("from_bytes", False), bool):  # absent in older bundles
            raise TypeError("'from_bytes' is not true or false")
        for key in ("input_columns", "output_columns"):
            if not all(isinstance(c, str) for c in index[key]):
                raise TypeError(f"'{key}' is not a list of names")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{where}: not a group index: {exc}") from None
    for entry in entries:
        name = entry.get("file") if isinstance(entry, dict) else None
        ok = isinstance(name, str) and _FILE.fullmatch(name) is not None
        if not ok or not isinstance(entry.get("sha256"), str):
            raise IntegrityError(f"{where}: entry {entry!r} is not a group file with a SHA-256")
    return index


def same_groups(a: Path, b: Path, persister: Any) -> list[Any]:
    """The groups whose chain or threshold differ between the bundles at ``a`` and ``b``
    (version directories of trusted bundles), compared by value: every array bit for bit,
    every other attribute equal. A pickle's bytes also depend on which objects the process
    that wrote it held shared (a worker's transport shares and copies in its own way), so
    equal chains may be written in files that differ."""
    found = []
    index_a, index_b = (json.loads((p / GROUPS_INDEX).read_bytes())["groups"] for p in (a, b))
    if [e["key"] for e in index_a] != [e["key"] for e in index_b]:
        return ["(the group keys differ)"]
    for ea, eb in zip(index_a, index_b, strict=True):
        ga = persister.load(a / ea["file"], trusted=True)
        gb = persister.load(b / eb["file"], trusted=True)
        if not _equal(ga, gb):
            found.append(ea["key"])
    return found


def _equal(x: Any, y: Any) -> bool:
    import numpy as np

    if type(x) is not type(y):
        return False
    if isinstance(x, np.ndarray):
        return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(_equal(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(_equal(u, v) for u, v in zip(x, y, strict=True))
    if hasattr(x, "__dict__"):
        return _equal(vars(x), vars(y))
    if isinstance(x, float) and x != x:  # NaN
        return y != y
    return bool(x == y)


def _check_file(path: Path, entry: Mapping[str, Any]) -> bytes:
    f = path / entry["file"]
    if f.is_symlink() or not f.is_file():
        raise IntegrityError(f"{f}: listed in {GROUPS_INDEX} but missing (or not a plain file)")
    data = f.read_bytes()
    if _digest(data) != entry["sha256"]:
        raise IntegrityError(f"{f}: SHA-256 does not match {GROUPS_INDEX}; the file was altered")
    return data


def verify_groups(path: Path, manifest: Mapping[str, Any]) -> int:
    """Check every group file's SHA-256 and that ``groups/`` holds nothing else; return the
    number of group files.

    :raises IntegrityError: naming the first file that is missing, unlisted or altered.
    """
    entries = read_index(path, manifest)["groups"]
    for entry in entries:
        _check_file(path, entry)
    listed = {entry["file"] for entry in entries}
    for f in sorted((path / GROUPS_DIR).iterdir()):
        if f"{GROUPS_DIR}/{f.name}" not in listed:
            raise IntegrityError(f"{f}: not listed in {GROUPS_INDEX}; the bundle was altered")
    return len(entries)


class GroupFiles:
    """The groups of one bundle, each read from its file on first use and kept.

    :param path: the version directory.
    :param index: the group index (:func:`read_index`).
    :param persister: the persister that wrote the files.
    :param trusted: passed to the persister's ``load`` (the bundle was vouched for).
    """

    def __init__(self, path: Path, index: dict[str, Any], persister: Any, trusted: bool) -> None:
        self.path = Path(path)
        self.index = index
        #: what ``Scorer.stateless`` said of the detector when written, so asking reads no file
        self.stateless: bool = index["stateless"]
        self.entries = {_key(e["key"]): e for e in index["groups"]}
        self.persister = persister
        self.trusted = trusted
        self._loaded: dict[Any, dict[str, Any]] = {}
        self._lock = threading.Lock()  # scoring threads may ask for the same group at once

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent to a worker as where to read from: it loads the groups it is asked for.
        return (GroupFiles, (self.path, self.index, self.persister, self.trusted))

    @property
    def loaded(self) -> tuple[Any, ...]:
        """The keys of the groups read so far."""
        return tuple(self._loaded)

    def get(self, key: Any) -> dict[str, Any]:
        """The chain and threshold of group ``key``, read (and checked) on first use.

        :raises KeyError: for a group the bundle does not hold.
        :raises IntegrityError: when its file is missing or altered.
        """
        with self._lock:
            if key not in self._loaded:
                entry = self.entries[key]
                data = _check_file(self.path, entry)  # checked before the persister reads it
                where = self.path / entry["file"]
                from .legacy import legacy_modules

                with legacy_modules():
                    self._loaded[key] = (
                        self.persister.loads(data, where, trusted=self.trusted)
                        if self.index.get("from_bytes") else
                        self.persister.load(where, trusted=self.trusted)
                    )
            return self._loaded[key]


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class _Lazy(Mapping[Any, Any]):
    """A read-only mapping over :class:`GroupFiles`: keys known up front, values on demand."""

    part = ""

    def __init__(self, files: GroupFiles) -> None:
        self.files = files

    def __getitem__(self, key: Any) -> Any:
        return self.files.get(key)[self.part]

    def __contains__(self, key: object) -> bool:
        return key in self.files.entries

    def __iter__(self) -> Iterator[Any]:
        return iter(self.files.entries)

    def __len__(self) -> int:
        return len(self.files.entries)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.files,))


class LazyChains(_Lazy):
    """A detector's ``chains``, read from group files on first use; every chain's input and
    output columns (the same for all) known from the index."""

    part = "chain"

    @property
    def input_columns(self) -> tuple[str, ...]:
        return tuple(self.files.index["input_columns"])

    @property
    def output_columns(self) -> tuple[str, ...]:
        return tuple(self.files.index["output_columns"])


class LazyThresholds(_Lazy):
    """A detector's ``thresholds``, read from group files on first use."""

    part = "threshold"


def attach(detector: Any, files: GroupFiles) -> Any:
    """``detector`` (as read from the detector file) with its groups behind ``files``."""
    return attrs.evolve(detector, chains=LazyChains(files), thresholds=LazyThresholds(files))
