"""The model registry of a bundle store ``OUTPUT/NAME``: the champion and what versions hold.

:func:`promote` marks one version the champion: ``OUTPUT/NAME/champion`` holds its number
(replaced atomically, like ``latest``), and ``OUTPUT/NAME/promotions.jsonl`` gains one line
saying which version, the one before, who, when and why. ``OUTPUT/NAME`` then resolves to the
champion (``load_bundle``, ``score``, ``drift``) until another version is promoted; a store
with no champion resolves to its newest version, as before.

A version is promoted only once it verifies (every file's SHA-256, and the signature with a
key), so the champion pointer always names a whole, readable bundle. The log line is written
(and synced) before the pointer moves, under the store's lock: a kill between the two leaves
a last line whose version is not the champion, never a champion nobody is recorded to have
promoted. The pointer is the authority; :func:`champion` reads it.

:func:`describe` and :func:`diff` turn manifests into what ``models show`` and ``models diff``
print; :func:`key_metric` is the one figure ``models list`` ranks a task by.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from ..errors import BundleError, IntegrityError
from ..plain_values import flatten
from .group_files import n_groups
from .store import (
    CHAMPION,
    LATEST,
    PROMOTIONS,
    fsync_dir,
    identity,
    is_store,
    read_manifest,
    read_pointer,
    resolve_choice,
    set_pointer,
    store_lock,
    verification_key,
    verify,
    versions,
)

#: The metric each kind of task is judged by, in order of preference: event F1 where the test
#: part has labelled events in time (channel telemetry), else ROC AUC (labelled rows), else F1.
KEY_METRICS = ("event_f1", "roc_auc", "f1")


@attrs.frozen
class Promotion:
    """One line of ``promotions.jsonl``: ``version`` became champion after ``previous``."""

    version: int
    previous: int | None
    reason: str
    by: str
    at: str

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _store(store: str | Path) -> Path:
    root = Path(store)
    if not root.is_dir() or not is_store(root):
        raise BundleError(
            f"{root}: not a bundle store (OUTPUT/NAME holding numbered versions)"
        )
    return root


def champion(store: str | Path) -> int | None:
    """Return the champion version of the store ``OUTPUT/NAME``, or None when none was promoted.

    :raises BundleError: the store does not exist, or its ``champion`` pointer is damaged or
        names a version that is gone (the message names the pointer).
    """
    return read_pointer(_store(store), CHAMPION)


def promote(
    store: str | Path,
    version: int,
    *,
    reason: str = "",
    by: str | None = None,
    key: Any = None,
) -> Promotion:
    """Make ``version`` the champion of the store ``OUTPUT/NAME``; return the logged record.

    :param reason: why, kept in the promotion log.
    :param by: who or what promoted (default ``user@host``); a program says its own name.
    :param key: the public key the version must be signed with (None: the file named by
        ``ASTRAGUARD_TRAIN_VERIFY_KEY``, if set).
    :raises BundleError: the version does not exist.
    :raises IntegrityError: the version does not verify; the champion is left as it was.
    :raises SignatureError: with a key, the version is unsigned or signed with another key.
    """
    root = _store(store)
    have = versions(root)
    if version not in have:
        raise BundleError(
            f"{root}: no version {version} to promote; versions: "
            f"{', '.join(map(str, have)) or 'none'}"
        )
    verify(root / str(version), verification_key(key))
    with store_lock(root):
        try:
            previous = read_pointer(root, CHAMPION)
        except BundleError:  # a damaged pointer is what a promotion mends
            previous = None
        record = Promotion(
            version=version,
            previous=previous,
            reason=reason,
            by=by or _who(),
            at=datetime.now(UTC).isoformat(),
        )
        append_line(root / PROMOTIONS, json.dumps(record.to_dict(), sort_keys=True))
        set_pointer(root, CHAMPION, version)
    fsync_dir(root)
    return record


def promotions(store: str | Path) -> list[Promotion]:
    """Return the store's promotions, oldest first.

    A last line cut short (a kill while it was written) is left out; any other line that is
    not a promotion record is an error.

    :raises IntegrityError: naming the log's file and line.
    """
    path = _store(store) / PROMOTIONS
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    out = []
    for number, line in enumerate(lines, 1):
        if not line or (number == len(lines) and not text.endswith("\n")):
            continue
        try:
            data = json.loads(line)
            out.append(Promotion(**{f.name: data[f.name] for f in attrs.fields(Promotion)}))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise IntegrityError(f"{path}: line {number}: not a promotion record ({exc})") from None
    return out


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container, say)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def append_line(path: Path, line: str) -> None:
    """Append ``line`` with one write and sync it: readers see it whole or not at all."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


# -- what a version holds -------------------------------------------------------------------


def key_metric(metrics: Mapping[str, Any]) -> tuple[str, float] | None:
    """Return the ``(name, value)`` of the first of :data:`KEY_METRICS` the metrics hold."""
    for name in KEY_METRICS:
        value = metrics.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return name, float(value)
    return None


def _plugin_line(info: Mapping[str, Any]) -> str:
    name, dist, version = info.get("name"), info.get("distribution"), info.get("version")
    if not dist:
        return str(name)
    return f"{name} ({dist} {version})" if version else f"{name} ({dist})"


def describe(path: str | Path) -> dict[str, Any]:
    """Return a summary of the version ``path`` names (a version directory, or ``OUTPUT/NAME``
    for its champion or newest): where it is, how it was chosen, what produced it, its
    training data and its metrics. The manifest's digest is checked, not every file's.

    :raises BundleError: no bundle there; :raises IntegrityError: a damaged manifest.
    """
    vdir, selected = resolve_choice(path)
    manifest = read_manifest(vdir)
    champ, latest = _pointer(vdir.parent, CHAMPION), _pointer(vdir.parent, LATEST)
    number = int(vdir.name) if vdir.name.isascii() and vdir.name.isdigit() else None
    threshold_info = manifest.get("threshold_info", {})
    metric = key_metric(manifest.get("metrics", {}))
    return {
        "path": str(vdir),
        "name": vdir.parent.name,
        "version": number,
        "selected": selected,
        "champion": number is not None and number == champ,
        "latest": number is not None and number == latest,
        "created": manifest.get("created"),
        "astraguard_train_version": manifest.get("astraguard_train_version"),
        "persister": manifest.get("persister"),
        "plugins": {k: _plugin_line(v) for k, v in manifest.get("plugins", {}).items()},
        "group_by": manifest.get("group_by"),
        "groups": n_groups(manifest),
        "input_features": len(manifest.get("input_features", [])),
        "threshold": manifest.get("threshold"),
        "threshold_method": threshold_info.get("method"),
        "training_data": manifest.get("training_data"),
        "identity": identity(manifest),
        "key_metric": None if metric is None else {"name": metric[0], "value": metric[1]},
        "metrics": dict(manifest.get("metrics", {})),
    }


def _pointer(root: Path, name: str) -> int | None:
    """The version a pointer names; None also when it is damaged (describing is no place to
    fail over a pointer: loading through it names the damage)."""
    try:
        return read_pointer(root, name)
    except BundleError:
        return None


def _changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"key": k, "a": a.get(k), "b": b.get(k)}
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


def diff(a: str | Path, b: str | Path) -> dict[str, Any]:
    """Return what differs from version ``a`` to version ``b`` (paths as for
    :func:`describe`): config keys (dotted), plugins, the training data fingerprint, and
    every metric with its change. Unchanged keys are left out, except metrics, all listed.
    """
    adir, bdir = resolve_choice(a)[0], resolve_choice(b)[0]
    ma, mb = read_manifest(adir), read_manifest(bdir)
    plugins_a = {k: _plugin_line(v) for k, v in ma.get("plugins", {}).items()}
    plugins_b = {k: _plugin_line(v) for k, v in mb.get("plugins", {}).items()}
    metrics = []
    mets_a, mets_b = ma.get("metrics", {}), mb.get("metrics", {})
    for k in sorted(set(mets_a) | set(mets_b)):
        va, vb = mets_a.get(k), mets_b.get(k)
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (va, vb))
        metrics.append({"key": k, "a": va, "b": vb, "change": vb - va if numbers else None})
    return {
        "a": str(adir),
        "b": str(bdir),
        "config": _changes(flatten(ma.get("config", {})), flatten(mb.get("config", {}))),
        "plugins": _changes(plugins_a, plugins_b),
        "training_data": {
            "same": ma.get("training_data") == mb.get("training_data"),
            "a": ma.get("training_data"),
            "b": mb.get("training_data"),
        },
        "same_model": identity(ma) is not None and identity(ma) == identity(mb),
        "metrics": metrics,
    }

