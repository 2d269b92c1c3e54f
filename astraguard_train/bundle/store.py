"""Model bundles: a directory holding the fitted detector and ``manifest.json``.

Layout of ``OUTPUT/NAME``::

    OUTPUT/NAME/1/            a finished bundle (never modified once renamed into place)
        detector.joblib       the TrainedDetector, written by the persister plugin
        groups.json, groups/  with ``group_by``: one file per group's chain, read on first use
                              (see :mod:`astraguard_train.bundle.group_files`)
        profile_sample.npy    a sample of training rows for drift tests (no pickle)
        evaluation.npz        the test part's scores, thresholds and flags, for reports (no pickle)
        data_map.npz          sampled training and test rows as the detector sees them, and
                              their PCA coordinates, for reports' maps (no pickle; t-SNE
                              is fitted by the report, never here)
        explainer.json        the explainer and what it learnt in training (no pickle)
        manifest.json         what produced the bundle, and the SHA-256 of every other file
        manifest.sha256       the SHA-256 of manifest.json itself
        manifest.sig          the Ed25519 signature of manifest.json (when a key signs bundles)
    OUTPUT/NAME/2/
    OUTPUT/NAME/latest        the newest version's number (replaced atomically)
    OUTPUT/NAME/feedback/     operators' verdicts on the versions' alarms (see
                              :mod:`astraguard_train.feedback.store`)
    OUTPUT/NAME/champion      the promoted version's number, when one was promoted (replaced
                              atomically; see :mod:`astraguard_train.bundle.registry`)
    OUTPUT/NAME/promotions.jsonl  every promotion: version, who, when, why (append-only)
    OUTPUT/NAME/.tmp-PID-XXXX an unfinished write; ignored by readers, removed once PID is gone

``OUTPUT/NAME`` resolves to the champion when one is marked, otherwise to ``latest``. A run
whose config and training data are those of an existing version writes no copy: it reports
that version (``[persist] allow_duplicate`` writes one anyway); see :func:`identity`.

A bundle is written into a ``.tmp-`` directory beside its final place and renamed into place,
so a crash or a kill never leaves a numbered directory that is not a whole bundle. Files and
directories are created with the process's umask, so a runtime under another account can read
them. Loading checks ``manifest.sha256`` against ``manifest.json``, the signature (when given a
key), the manifest's shape, every listed file's SHA-256, and that nothing is a symbolic link or
a path leaving the bundle, before anything is unpickled; a pickle-based bundle then loads only
when its signature was verified or the caller says it is trusted.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import warnings
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from .. import __version__
from ..config import PERSIST_KEYS
from ..errors import (
    BundleError,
    BundleFormatError,
    BundlePluginError,
    IntegrityError,
    LibraryVersionWarning,
    StrayEntryWarning,
    UntrustedBundleError,
    UntrustedTypeError,
)
from ..explain.attach import EXPLAINER_FILE, write_explainers
from ..plain_values import jsonable
from ..plugins import contracts
from ..threads import on_daemon_thread
from . import signing
from .legacy import legacy_modules

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_DIGEST = "manifest.sha256"
DETECTOR_FILE = "detector"
#: Stem of the files holding a chain's model weights as tensors (``weights-<chain>.pt``).
WEIGHTS_FILE = "weights"
SAMPLE_FILE = "profile_sample.npy"
LATEST = "latest"
CHAMPION = "champion"
PROMOTIONS = "promotions.jsonl"
TMP_PREFIX = ".tmp-"
LOCK_FILE = ".lock"
#: Directories beside the versions that are not versions (no stray-entry warning).
SIDE_DIRS = ("feedback",)
#: Files a bundle holds besides the ones its manifest lists.
SEALS = (MANIFEST, MANIFEST_DIGEST, signing.SIGNATURE_FILE)
_NUMBER = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() accepts "²", which int() refuses

#: Libraries whose versions a manifest records (pyod only when the detector uses it).
LIBRARIES: tuple[str, ...] = ("numpy", "scikit-learn", "scipy", "joblib")

#: Manifest keys a reader relies on, with their JSON types.
REQUIRED_KEYS: dict[str, type | tuple[type, ...]] = {
    "format_version": int,
    "created": str,
    "astraguard_train_version": str,
    "python": str,
    "libraries": dict,
    "persister": str,
    "detector_file": str,
    "config": dict,
    "plugins": dict,
    "input_features": list,
    "output_features": list,
    "threshold": (int, float),
    "threshold_info": dict,
    "metrics": dict,
    "profile": dict,
    "files": dict,
}

#: Plugin kinds a loaded detector needs: the loader only reads files, and a threshold
#: strategy leaves a number behind (a row-wise rule's module is checked on unpickling).
_NEEDED_KINDS = ("transform", "scaler", "model", "persister")


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of the file at ``path``, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- writing --------------------------------------------------------------------------------


def fsync_dir(path: Path) -> None:
    """Sync the directory ``path``, so that a rename inside it survives a power cut."""
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Threads syncing a bundle's files at once: a fleet's thousands of channel files would
#: otherwise wait for the disk one after another.
FSYNC_THREADS = 8


def _fsync_files(paths: list[Path]) -> None:
    if len(paths) < 2 * FSYNC_THREADS:
        for f in paths:
            _fsync_file(f)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(FSYNC_THREADS) as pool:
        list(pool.map(_fsync_file, paths))  # list: an error is raised here


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:  # mode 0666 less the umask
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


@contextlib.contextmanager
def store_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``root/.lock`` (where ``fcntl`` exists) while versioning."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: rename still refuses to overwrite
        yield
        return
    with open(root / LOCK_FILE, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_writes(root: Path) -> list[Path]:
    """Return the unfinished ``.tmp-PID-*`` directories in ``root`` whose writer is gone."""
    out: list[Path] = []
    if not root.is_dir():
        return out
    for p in root.iterdir():
        if p.is_dir() and p.name.startswith(TMP_PREFIX):
            pid = p.name[len(TMP_PREFIX):].split("-")[0]
            if not _NUMBER.fullmatch(pid) or not _pid_alive(int(pid)):
                out.append(p)
    return sorted(out)


def _training_part(ctx: Any) -> Any:
    return ctx.split.train if ctx.split is not None else None


def _uses(detector: Any, package: str) -> bool:
    """True when a chain's model (or an object it holds) comes from ``package``."""
    for chain in detector.chains.values():
        model = chain.model
        objs = [model, *vars(model).values()] if hasattr(model, "__dict__") else [model]
        if any(type(o).__module__.split(".")[0] == package for o in objs):
            return True
    return False


def library_versions(detector: Any = None, persister: str | None = None) -> dict[str, str | None]:
    """Return the installed versions of the libraries a bundle depends on."""
    names = list(LIBRARIES)
    if persister == "skops":
        names.append("skops")
    if detector is not None and _uses(detector, "pyod"):
        names.append("pyod")
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _plugins(config: Any, registry: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for key, kind, spec in config.stages():
        entry = registry.get(kind, spec.name)
        out[key] = {
            "kind": kind,
            "name": spec.name,
            "plugin": entry.plugin,
            "distribution": entry.distribution,
            "version": entry.version,
        }
    return out


def training_matrix(ctx: Any, columns: tuple[str, ...] | None = None) -> np.ndarray | None:
    """The run's training rows over the detector's input features (or ``columns``), or None
    without a split."""
    train = _training_part(ctx)
    if train is None:
        return None
    columns = tuple(ctx.detector.input_columns) if columns is None else columns
    return train.select(columns).X if train.columns != columns else train.X


@attrs.frozen(eq=False)
class TrainingSummary:
    """What a bundle keeps of the run's training rows: their fingerprint, drift profile and
    sample (all None without a split: an update brings its parent's)."""

    fingerprint: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    sample: np.ndarray | None = None


def summarise_training(ctx: Any, columns: tuple[str, ...] | None = None) -> TrainingSummary:
    """The :class:`TrainingSummary` of the run in ``ctx`` over the detector's input features
    (its detector fitted), or over ``columns`` (the same, known before the fit)."""
    from .profile import fingerprint, profile_matrix, sample_rows

    columns = tuple(ctx.detector.input_columns) if columns is None else columns
    X = training_matrix(ctx, columns)
    if X is None:
        return TrainingSummary()
    return TrainingSummary(fingerprint(X), profile_matrix(X, columns), sample_rows(X))


@attrs.frozen(eq=False)
class TestSummary:
    """What a bundle keeps of the run's scored test part beside its scores: the drift report
    against the training profile, and the data map (each None when there is none)."""

    drift: dict[str, Any] | None = None
    data_map: Any = None


def summarise_test(ctx: Any, training: TrainingSummary) -> TestSummary:
    """The :class:`TestSummary` of the run in ``ctx`` (its test part scored), whose training
    rows are summarised as ``training``."""
    from .data_map import DataMap
    from .evaluation import drift_of_scored

    test = ctx.test_scores
    if test is None or not test.n_rows:
        return TestSummary()
    drift = drift_of_scored(training.profile or {}, training.sample, test)
    data_map = DataMap.build(
        ctx.detector, _training_part(ctx), test, features=training_features(ctx)
    ) if ctx.split is not None else None
    return TestSummary(drift, data_map)


def summarise_ahead(ctx: Any) -> Future[TrainingSummary]:
    """:func:`summarise_training` started now on a thread of its own, for a run that will
    persist, as its train stage begins (the features fitted, the models not yet): fitting a
    forest holds the GIL and one core, hashing and sorting the training rows leave the GIL
    free, so on the second core the summary is ready long before persist needs it."""
    # the chains' input columns are the detector's; read now, as the fit replaces the chains
    first = next(iter(ctx.plan.chains.values()))
    return on_daemon_thread(summarise_training, ctx, tuple(first.input_columns),
                            name="astraguard-summary")


def summarise_test_ahead(ctx: Any, training: Future[TrainingSummary]) -> Future[TestSummary]:
    """:func:`summarise_test` started now on a thread of its own, once ``training`` is
    ready: the evaluate stage computes its metrics meanwhile."""
    return on_daemon_thread(lambda: summarise_test(ctx, training.result()),
                            name="astraguard-summary")


def training_features(ctx: Any) -> Any:
    """The features the run computed per chain key, when they are those of its whole
    training part (not when labelled anomalies were left out of the fit), else None."""
    plan = getattr(ctx, "plan", None)
    if plan is None or ctx.split is None or plan.train is not ctx.split.train:
        return None
    return plan.features


def build_manifest(
    ctx: Any,
    detector_file: str,
    files: dict[str, str],
    profile: dict[str, Any] | None = None,
    weights: Mapping[str, int] | None = None,
    training_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the manifest for the run in ``ctx`` whose files (name -> SHA-256) are ``files``.

    :param profile: the training profile when the caller has made it already.
    :param weights: the files holding model weights, each with its chain's position.
    :param training_data: the training rows' fingerprint when the caller has made it already.
    """
    from ..features.selection import selection_reports
    from .group_files import GROUPS_INDEX, MANIFEST_KEY
    from .profile import fingerprint, profile_matrix

    config, det = ctx.config, ctx.detector
    columns = tuple(det.input_columns)
    X = training_matrix(ctx)
    data_fp: Any
    if X is not None:
        profile = profile if profile is not None else profile_matrix(X, columns)
        data_fp = training_data if training_data is not None else fingerprint(X)
    else:  # an update keeps its parent's drift reference
        profile, data_fp = getattr(ctx, "profile", {}), getattr(ctx, "training_data", None)
    lineage = getattr(ctx, "lineage", None)
    return {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(),
        "astraguard_train_version": __version__,
        "python": platform.python_version(),
        "libraries": library_versions(det, config.persist.name),
        "persister": config.persist.name,
        "detector_file": detector_file,
        "config": _manifest_config(config),
        "plugins": _plugins(config, ctx.registry),
        "group_by": det.group_by,
        # per group, the keys, files and thresholds are in groups.json
        **({"n_groups": len(det.chains), MANIFEST_KEY: GROUPS_INDEX} if det.group_by else {
            "groups": [None if k is None else str(k) for k in det.chains]}),
        "failed_groups": dict(det.failed_groups),
        "channels": _channels(_training_part(ctx)),
        "input_features": list(columns),
        "output_features": list(det.output_columns),
        "training_data": data_fp,
        "threshold": det.threshold,
        "threshold_info": jsonable(
            {k: v for k, v in det.threshold_info.items() if k != "per_group"}
        ),
        "metrics": jsonable(dict(ctx.metrics or {})),
        "profile": profile,
        **({"lineage": jsonable(lineage)} if lineage else {}),
        "explainer": config.explain.name if EXPLAINER_FILE in files else None,
        "feature_selection": jsonable(selection_reports(det.chains, config.transforms)),
        "files": files,
        "weights": dict(weights or {}),
    }


def _channels(train: Any) -> list[str] | None:
    """The training part's channels (what feedback may name), None without a channel key."""
    if train is None or train.channels is None:
        return None
    runs = train.sorted_runs()  # a fleet's channels in sorted runs: no sort of every row
    return sorted({str(c) for c in (runs[0] if runs is not None else np.unique(train.channels))})


def _make_tmp_dir(root: Path) -> Path:
    # os.mkdir applies the umask (tempfile.mkdtemp would make it 0700, unreadable to others).
    while True:
        path = root / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.mkdir(path, 0o777)
        except FileExistsError:
            continue
        return path


def signing_key_path(config: Any) -> str | None:
    """The private key file that signs bundles: ``[persist] signing_key``, else the env var."""
    return config.persist.signing_key or os.environ.get(signing.SIGNING_KEY_ENV) or None


def _for_bundle(detector: Any, directory: Path) -> tuple[Any, dict[str, int]]:
    """The detector as a bundle keeps it: without its chains' training scores, and without
    the weights its models keep as files of their own (written into ``directory`` here).

    The training scores served the threshold choice during the run; kept, they would be 8
    bytes per training row, most of a forest's bundle, written, hashed and read back for
    nothing. Weights as tensor files load without running code whatever the persister.

    :returns: the detector to persist and the weights files by name, each with its chain's
        position in ``detector.chains``.
    """
    chains, weights = {}, {}
    for number, (key, chain) in enumerate(detector.chains.items()):
        chain = copy.copy(chain)
        chain.train_scores_ = None
        chain.model, name = contracts.detach_weights(
            chain.model, directory, f"{WEIGHTS_FILE}-{number}"
        )
        if name is not None:
            weights[name] = number
        chains[key] = chain
    return attrs.evolve(detector, chains=chains), weights


#: ``[persist]`` keys that change nothing in the model: where it goes, whether copies may.
_PLACEMENT_KEYS = ("output", "bundle_name", "allow_duplicate")


def identity(manifest: Mapping[str, Any]) -> dict[str, str] | None:
    """Return what makes two versions the same model: the SHA-256 of the config (without where
    the bundle is written and the ``[tracking]`` table), that of the training rows, and for an
    updated version that of its lineage.

    None when the manifest records no training data (nothing to compare).
    """
    data = manifest.get("training_data")
    if not isinstance(data, dict) or not isinstance(data.get("sha256"), str):
        return None
    config = copy.deepcopy(dict(manifest.get("config", {})))
    config.pop("tracking", None)
    persist = config.get("persist")
    if isinstance(persist, dict):
        for key in _PLACEMENT_KEYS:
            persist.pop(key, None)
    out = {
        "config_sha256": _digest(config),
        "training_data_sha256": data["sha256"],
    }
    # An update keeps its parent's config and training fingerprint; what it absorbed since
    # is in its lineage, so it is never the same model as its parent or a fresh run.
    if manifest.get("lineage"):
        out["lineage_sha256"] = _digest(manifest["lineage"])
    return out


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find_identical(root: Path, ident: Mapping[str, str] | None) -> int | None:
    """Return the newest version under ``root`` whose :func:`identity` is ``ident``, or None.

    Versions whose manifest cannot be read are not candidates.
    """
    if ident is None:
        return None
    for v in reversed(versions(root)):
        try:
            manifest = read_manifest(root / str(v))
        except (BundleError, OSError):
            continue
        if identity(manifest) == ident:
            return v
    return None


@attrs.frozen
class SavedVersion:
    """Where a run's bundle is: a new version, or the identical one that was there already."""

    path: Path
    duplicate_of: int | None = None


def write_bundle(ctx: Any, output: str | Path) -> Path:
    """Write the run's detector as a version ``OUTPUT/NAME/<n>``; return its path (that of the
    identical existing version, when there is one: see :func:`save_version`)."""
    return save_version(ctx, output).path


def save_version(ctx: Any, output: str | Path) -> SavedVersion:
    """Write the run's detector as a new version ``OUTPUT/NAME/<n>``, unless a version with
    the same :func:`identity` exists and ``[persist] allow_duplicate`` is off: then nothing is
    written and that version is returned.

    ``ctx`` is the pipeline's run context (config, registry, detector, metrics, split). The
    bundle is assembled in ``OUTPUT/NAME/.tmp-PID-*`` and renamed into place under a lock, then
    ``latest`` is replaced atomically. The duplicate check is made before the bundle is written
    and again under the lock, so two identical runs at once add one version. An existing
    version is never overwritten. With a signing key (:func:`signing_key_path`),
    ``manifest.sig`` signs the manifest.

    An update's context (:class:`~astraguard_train.bundle.update.UpdateContext`) has no split;
    it brings ``lineage`` (written as the manifest's ``lineage``) and its parent's
    ``profile``, ``training_data`` fingerprint and training ``sample`` instead.

    :raises BundleError: when the output directory cannot be written or the key not read.
    """
    from .data_map import DATA_MAP_FILE
    from .evaluation import EVALUATION_FILE, Evaluation

    config = ctx.config
    key_path = signing_key_path(config)
    key = signing.load_private_key(key_path) if key_path else None
    persister = ctx.registry.create(
        "persister", config.persist.name, config.persist.params, where="persist"
    )
    name = config.persist.bundle_name
    if not name or Path(name).name != name or name.startswith(".") or name.isdigit():
        raise BundleError(
            f"persist.bundle_name: {name!r} must be a plain directory name (no '/', not "
            "starting with '.', not a number)"
        )
    root = Path(output) / name
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BundleError(f"{root}: cannot create the bundle directory: {exc.strerror}") from None
    for stale in stale_writes(root):
        shutil.rmtree(stale, ignore_errors=True)
    ahead = getattr(ctx, "training_summary", None)  # a run's, started in its evaluate stage
    summary = ahead.result() if ahead is not None else summarise_training(ctx)
    data_fp = summary.fingerprint  # for the duplicate check and manifest
    ident = None if config.persist.allow_duplicate else identity(_identity_fields(ctx, data_fp))
    same = find_identical(root, ident)
    if same is not None:
        return SavedVersion(root / str(same), duplicate_of=same)
    tmp = _make_tmp_dir(root)
    written: list[Path] = []
    try:
        detector_file = DETECTOR_FILE + persister.suffix
        bundled, weights = _for_bundle(ctx.detector, tmp)
        if bundled.group_by is not None:
            from .group_files import GROUPS_INDEX, write_groups

            bundled, index, written = write_groups(bundled, persister, tmp)
            (tmp / GROUPS_INDEX).write_bytes(index)
        persister.dump(bundled, tmp / detector_file)
        profile, sample = summary.profile, summary.sample
        if sample is not None:
            np.save(tmp / SAMPLE_FILE, sample, allow_pickle=False)
        elif getattr(ctx, "sample", None) is not None:  # an update's, from its parent
            sample = ctx.sample
            np.save(tmp / SAMPLE_FILE, sample, allow_pickle=False)
        test = ctx.test_scores
        if test is not None and test.n_rows:
            ahead_test = getattr(ctx, "test_summary", None)  # a run's, from its evaluate stage
            scored = (ahead_test.result() if ahead_test is not None
                      else summarise_test(ctx, summary))
            Evaluation.from_scored(test, scored.drift).save(tmp / EVALUATION_FILE)
            if scored.data_map is not None:
                scored.data_map.save(tmp / DATA_MAP_FILE)
        if ctx.explainers:
            write_explainers(tmp, config.explain, ctx.explainers)
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        manifest = build_manifest(ctx, detector_file, files, profile, weights, data_fp)
        text = json.dumps(manifest, indent=2, default=str, allow_nan=True)
        _write_text(tmp / MANIFEST, text)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        _write_text(tmp / MANIFEST_DIGEST, f"{digest}  {MANIFEST}\n")
        if key is not None:
            _write_text(tmp / signing.SIGNATURE_FILE, signing.sign(text.encode("utf-8"), key))
        # the persister's files too, so a power cut cannot leave them short
        _fsync_files([*(tmp / name for name in files), *written])
        if written:
            fsync_dir(written[0].parent)
        fsync_dir(tmp)
        with store_lock(root):
            same = find_identical(root, ident)  # another run may have added it meanwhile
            if same is None:
                final = root / str(max(versions(root, complete=False), default=0) + 1)
                os.rename(tmp, final)  # never replaces: the number was free under the lock
                set_pointer(root, LATEST, int(final.name))
        if same is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            return SavedVersion(root / str(same), duplicate_of=same)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SavedVersion(final)


def _identity_fields(ctx: Any, training_data: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest keys :func:`identity` reads, for the run in ``ctx`` (before it is written),
    whose training rows have the fingerprint ``training_data`` (None: it has none)."""
    if training_data is None:
        return {}
    return {"config": _manifest_config(ctx.config), "training_data": training_data}


def _manifest_config(config: Any) -> dict[str, Any]:
    """The config as a manifest records it: JSON values, without ``[tracking]``."""
    out = jsonable(config.to_dict())
    out.pop("tracking", None)
    return json.loads(json.dumps(out, default=str))


def set_pointer(root: Path, name: str, version: int) -> None:
    """Replace the pointer file ``root/name`` (``latest``, ``champion``) atomically with
    ``version``; a reader sees the old number or the new one, never a partial file."""
    tmp = root / f"{TMP_PREFIX}{name}-{os.getpid()}-{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # mkstemp would be 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"{version}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, root / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# -- finding --------------------------------------------------------------------------------


def _numbered(root: Path) -> tuple[list[Path], list[Path]]:
    """The numbered directories in ``root``, and the other ones not starting with '.'."""
    numbered, stray = [], []
    for p in root.iterdir():
        if p.is_dir():
            if _NUMBER.fullmatch(p.name):
                numbered.append(p)
            elif not p.name.startswith(".") and p.name not in SIDE_DIRS:
                stray.append(p)
    return numbered, sorted(stray)


def is_store(root: Path) -> bool:
    """True when ``root`` looks like ``OUTPUT/NAME``: a ``latest`` pointer or a version."""
    return (root / LATEST).is_file() or bool(_numbered(root)[0])


def versions(root: str | Path, complete: bool = True) -> list[int]:
    """Return the version numbers under ``root`` in ascending order.

    A directory that is not a version number is skipped with a :class:`StrayEntryWarning`
    (names starting with '.', such as unfinished ``.tmp-`` writes, silently).

    :param complete: only versions holding a manifest (numbered directories left empty by
        hand are skipped).
    """
    root = Path(root)
    if not root.is_dir():
        return []
    numbered, stray = _numbered(root)
    for p in stray:
        warnings.warn(
            f"{p}: not a bundle version (versions are numbered directories); skipped",
            StrayEntryWarning,
            stacklevel=2,
        )
    return sorted(
        int(p.name) for p in numbered if not complete or (p / MANIFEST).is_file()
    )


def resolve(path: str | Path) -> Path:
    """Return the version directory ``path`` names (see :func:`resolve_choice`)."""
    return resolve_choice(path)[0]


def read_pointer(root: Path, name: str) -> int | None:
    """Return the version the pointer file ``root/name`` holds, or None when there is none.

    :raises BundleError: naming the pointer when it holds no version number, or one that is
        not a bundle.
    """
    pointer = root / name
    if not pointer.is_file():
        return None
    raw = pointer.read_text(encoding="utf-8").strip()
    if not _NUMBER.fullmatch(raw):
        raise BundleError(f"{pointer}: expected a version number, got {raw[:40]!r}")
    if not (root / raw / MANIFEST).is_file():
        raise BundleError(f"{pointer}: points to version {raw}, which is not a bundle")
    return int(raw)


def resolve_choice(path: str | Path) -> tuple[Path, str]:
    """Return the version directory ``path`` names, and how it was chosen.

    ``path`` may be a version directory (holds ``manifest.json``; chosen as ``"version"``) or
    a bundle directory ``OUTPUT/NAME``, resolved through its ``champion`` pointer when one was
    promoted (``"champion"``), else through ``latest`` (``"latest"``), else to the highest
    finished version (``"newest"``).

    :raises BundleError: naming ``path`` when it holds no bundle, or the pointer that points
        nowhere.
    """
    p = Path(path)
    if p.name.startswith(TMP_PREFIX):
        raise BundleError(f"{p}: an unfinished bundle write, not a bundle")
    if (p / MANIFEST).is_file() or (p / MANIFEST_DIGEST).is_file():
        return p, "version"
    if not p.exists():
        raise BundleError(f"{p}: no such bundle directory")
    for pointer in (CHAMPION, LATEST):
        version = read_pointer(p, pointer)
        if version is not None:
            return p / str(version), pointer
    found = versions(p) if is_store(p) else []  # no warnings about an output directory
    if found:
        return p / str(found[-1]), "newest"
    inside = sorted(c.name for c in p.iterdir() if c.is_dir() and is_store(c))
    hint = f"; it holds bundle(s) {', '.join(inside)}: pass {p / inside[0]}" if inside else ""
    raise BundleError(
        f"{p}: not a bundle: no {MANIFEST}, no '{LATEST}' pointer and no numbered "
        f"versions{hint}"
    )


# -- verifying ------------------------------------------------------------------------------


def _plain_name(name: Any) -> bool:
    """True for a file name that stays inside the bundle: no separator, not '.' or '..'."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and not any(c in name for c in "/\\\0")
        and not Path(name).is_absolute()
    )


def _expect(ok: bool, where: Path, what: str) -> None:
    if not ok:
        raise IntegrityError(f"{where}: {what}")


def _check_structure(manifest: Any, where: Path) -> None:
    """Check the keys and types a reader relies on, nested ones included."""
    if not isinstance(manifest, dict):
        raise IntegrityError(f"{where}: expected a JSON object, got {type(manifest).__name__}")
    for key, kind in REQUIRED_KEYS.items():
        if key not in manifest:
            raise IntegrityError(f"{where}: required key '{key}' is missing")
        if not isinstance(manifest[key], kind) or isinstance(manifest[key], bool):
            kinds = kind if isinstance(kind, tuple) else (kind,)
            raise IntegrityError(
                f"{where}: key '{key}' has type {type(manifest[key]).__name__}; expected "
                f"{' or '.join(k.__name__ for k in kinds)}"
            )
    for name, digest in manifest["files"].items():
        _expect(_plain_name(name), where, f"files: {name!r} is not a file name inside the bundle")
        _expect(
            isinstance(digest, str) and re.fullmatch("[0-9a-f]{64}", digest) is not None,
            where, f"files: {name!r} has no SHA-256 (64 hex digits)",
        )
    detector_file = manifest["detector_file"]
    _expect(
        _plain_name(detector_file) and detector_file in manifest["files"],
        where, f"detector_file: {detector_file!r} is not one of the bundle's listed files",
    )
    for key, info in manifest["plugins"].items():
        _expect(isinstance(info, dict), where, f"plugins.{key}: expected a JSON object")
    weights = manifest.get("weights", {})  # absent from bundles written before weight files
    _expect(isinstance(weights, dict), where, "weights: expected a JSON object")
    for name, number in weights.items():
        _expect(
            name in manifest["files"] and isinstance(number, int) and not isinstance(number, bool),
            where, f"weights: {name!r} is not a listed file with its chain's position",
        )
    for table in ("loader", "model", "persist"):
        _expect(
            isinstance(manifest["config"].get(table, {}), dict),
            where, f"config.{table}: expected a JSON object",
        )
    for key in ("input_features", "output_features"):
        _expect(
            all(isinstance(c, str) for c in manifest[key]), where, f"{key}: expected strings"
        )
    for name, version in manifest["libraries"].items():
        _expect(
            version is None or isinstance(version, str), where,
            f"libraries.{name}: expected a version string or null",
        )
    for name, prof in manifest["profile"].items():
        _expect(isinstance(prof, dict), where, f"profile.{name}: expected a JSON object")


def _check_entries(p: Path) -> None:
    """Refuse a symbolic link anywhere in the version directory: it could lead outside."""
    for f in sorted(p.iterdir()):
        if f.is_symlink():
            raise IntegrityError(
                f"{f}: a symbolic link; a bundle holds only its own plain files"
            )


def read_manifest(path: str | Path, key: Any = None) -> dict[str, Any]:
    """Return the manifest of the version directory ``path`` after checking its own digest.

    :param key: an Ed25519 public key (see :func:`verification_key`): the manifest must be
        signed with it, checked before the manifest is even parsed.
    :raises IntegrityError: naming ``manifest.json`` or ``manifest.sha256`` when they do not
        match, the manifest has the wrong shape, or the directory holds a symbolic link.
    :raises SignatureError: with a key, when the bundle is unsigned or signed otherwise.
    :raises BundleFormatError: when the bundle's format is newer than this version reads.
    """
    p = Path(path)
    mpath, dpath = p / MANIFEST, p / MANIFEST_DIGEST
    if not mpath.is_file():
        raise BundleError(f"{p}: not a bundle (no {MANIFEST})")
    _check_entries(p)
    if not dpath.is_file():
        raise IntegrityError(f"{dpath}: missing; the manifest cannot be checked")
    raw = mpath.read_bytes()
    # Byte-exact format, so that even a flipped separator or newline is caught.
    recorded = re.fullmatch(rb"([0-9a-f]{64})  manifest\.json\n", dpath.read_bytes())
    if recorded is None:
        raise IntegrityError(f"{dpath}: malformed; expected one line '<sha256>  {MANIFEST}'")
    if hashlib.sha256(raw).hexdigest() != recorded.group(1).decode("ascii"):
        raise IntegrityError(
            f"{mpath}: SHA-256 does not match {dpath.name}; {MANIFEST} or {dpath.name} was altered"
        )
    if key is not None:
        signing.check(p, raw, key)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{mpath}: invalid JSON: {exc}") from None
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise BundleFormatError(
            f"{mpath}: bundle format {version} is newer than this astraguard-train "
            f"{__version__} reads (up to {FORMAT_VERSION}); upgrade astraguard-train"
        )
    _check_structure(manifest, mpath)
    return manifest


def verify(path: str | Path, key: Any = None, *, groups: bool = True) -> dict[str, Any]:
    """Check the manifest's digest (and signature, with ``key``) and every file's SHA-256;
    return the manifest.

    Every file in the directory must be listed: an unlisted file is an error too.

    :param groups: check the group files too (every one; see
        :mod:`~astraguard_train.bundle.group_files`). Loading checks each one as it reads it.
    :raises IntegrityError: naming the first file that is missing, unlisted or altered.
    :raises SignatureError: with a key, when the bundle is unsigned or signed otherwise.
    """
    from .group_files import GROUPS_DIR, MANIFEST_KEY, verify_groups

    p = Path(path)
    manifest = read_manifest(p, key)
    listed = dict(manifest["files"])
    if manifest.get(MANIFEST_KEY) is not None:
        _expect(manifest[MANIFEST_KEY] in listed, p / MANIFEST,
                f"{MANIFEST_KEY}: {manifest[MANIFEST_KEY]!r} is not one of the listed files")
        listed[GROUPS_DIR] = ""  # a directory, checked against the group index
        _expect((p / GROUPS_DIR).is_dir() and not (p / GROUPS_DIR).is_symlink(), p / GROUPS_DIR,
                "missing (or not a plain directory); the bundle's group files are in it")
    for name in sorted(n for n in listed if n != GROUPS_DIR):
        f = p / name
        if not f.is_file():
            raise IntegrityError(f"{f}: listed in the manifest but missing")
        if sha256_file(f) != listed[name]:
            raise IntegrityError(f"{f}: SHA-256 does not match the manifest; the file was altered")
    for f in sorted(p.iterdir()):
        if f.name not in listed and f.name not in SEALS:
            raise IntegrityError(f"{f}: not listed in the manifest; the bundle was altered")
    if groups and GROUPS_DIR in listed:
        verify_groups(p, manifest)
    return manifest


def verification_key(key: Any = None) -> Any:
    """Return the public key bundles must be signed with, or None when there is none.

    ``key`` is a public key file (PEM), an ``Ed25519PublicKey``, or None for the file named by
    the ``ASTRAGUARD_TRAIN_VERIFY_KEY`` environment variable (unset or empty: no key).
    """
    if key is None:
        key = os.environ.get(signing.VERIFY_KEY_ENV) or None
    return None if key is None else signing.public_key(key)


def library_drift(manifest: Mapping[str, Any]) -> list[str]:
    """Return one line per library whose installed version differs from the bundle's."""
    recorded = dict(manifest.get("libraries", {}))
    recorded["astraguard-train"] = manifest.get("astraguard_train_version")
    out = []
    for name, then in sorted(recorded.items()):
        try:
            now: str | None = metadata.version(name)
        except metadata.PackageNotFoundError:
            now = None
        if name == "astraguard-train":
            now = __version__
        if then != now:
            out.append(f"{name} {then} when written, {now or 'not installed'} now")
    return out


def check_plugins(manifest: Mapping[str, Any], registry: Any, where: Path) -> None:
    """Raise :class:`BundlePluginError` naming the distribution of a missing needed plugin."""
    for key, info in manifest["plugins"].items():
        kind, name = info.get("kind"), info.get("name")
        if kind not in _NEEDED_KINDS or registry.has(kind, name):
            continue
        dist, version = info.get("distribution"), info.get("version")
        if dist:
            install = f"pip install '{dist}=={version}'" if version else f"pip install {dist}"
        else:
            install = f"install the package providing plugin '{info.get('plugin')}'"
        raise BundlePluginError(
            f"{where}: {key} needs {kind} '{name}' from plugin '{info.get('plugin')}' "
            f"(distribution {dist or 'unknown'} {version or ''}), which is not installed; {install}"
        )


@attrs.frozen(eq=False)
class LoadedBundle:
    """A verified bundle: where it is, its manifest and the detector it holds.

    ``selected`` says how the version was chosen: ``"version"`` (named directly),
    ``"champion"``, ``"latest"`` or ``"newest"`` (see :func:`resolve_choice`).
    """

    path: Path
    manifest: dict[str, Any]
    detector: Any
    selected: str = "version"


def load(
    path: str | Path,
    registry: Any = None,
    *,
    key: Any = None,
    trusted: bool = False,
    warn: bool = True,
) -> LoadedBundle:
    """Resolve, verify and load the bundle at ``path``.

    Checksums (and, with a key, the signature) are verified before the persister reads
    anything; library version drift is reported as :class:`LibraryVersionWarning`.

    :param key: the public key the bundle must be signed with: a PEM file, an
        ``Ed25519PublicKey``, or None for ``ASTRAGUARD_TRAIN_VERIFY_KEY`` (unset: no key).
    :param trusted: the caller trusts whoever could write the bundle. A persister whose files
        run code when loaded (joblib's pickle) loads only a bundle whose signature was verified
        or one marked trusted; skops loads either way, and honours the bundle's own
        ``[persist] trusted`` type names only then.
    :raises IntegrityError: a file is missing, unlisted, altered or a symbolic link, or the
        manifest has the wrong shape (the message names it).
    :raises SignatureError: with a key, the bundle is unsigned or signed with another key.
    :raises UntrustedBundleError: loading would run code nobody vouched for.
    :raises BundleFormatError: the bundle's format is newer than this version reads.
    :raises BundlePluginError: a plugin the bundle needs is not installed.
    """
    from .group_files import MANIFEST_KEY, GroupFiles, attach, read_index

    if registry is None:
        from ..plugins.manager import build_registry

        registry = build_registry()
    public = verification_key(key)
    p, selected = resolve_choice(path)
    manifest = verify(p, public, groups=False)  # a group's file is checked when it is read
    if warn:
        drift = library_drift(manifest)
        if drift:
            warnings.warn(
                f"{p}: library versions differ from when the bundle was written: "
                + "; ".join(drift),
                LibraryVersionWarning,
                stacklevel=2,
            )
    check_plugins(manifest, registry, p)
    vouched = trusted or public is not None
    # Load-time options come from the manifest; unvouched, it cannot widen what loads.
    params = _persist_params(manifest) if vouched else {}
    persister = registry.create(
        "persister", manifest["persister"], params, where=f"{p}: persist"
    )
    file = p / manifest["detector_file"]
    try:
        with legacy_modules():
            detector = persister.load(file, trusted=vouched)
    except UntrustedBundleError as exc:
        raise UntrustedBundleError(f"{exc}; {_trust_advice(p)}") from None
    except UntrustedTypeError as exc:
        if vouched or "trusted" not in _persist_params(manifest):
            raise
        raise UntrustedTypeError(
            f"{exc}. The bundle's own [persist] trusted list counts only for a bundle you "
            f"vouch for: {_trust_advice(p)}"
        ) from None
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        owners = [
            i for i in manifest["plugins"].values() if str(i.get("plugin", "")).split(".")[0] == top
        ]
        dist = owners[0].get("distribution") if owners else None
        hint = f"; install distribution {dist}" if dist else ""
        raise BundlePluginError(
            f"{file}: needs module '{exc.name}', which is not installed{hint}"
        ) from None
    if manifest.get(MANIFEST_KEY) is not None:
        files = GroupFiles(p, read_index(p, manifest), persister, trusted=vouched)
        detector = attach(detector, files)
    _attach_weights(detector, p, manifest)  # reads every group's file when there are weights
    return LoadedBundle(path=p, manifest=manifest, detector=detector, selected=selected)


def _attach_weights(detector: Any, p: Path, manifest: Mapping[str, Any]) -> None:
    """Hand each weights file (verified already) back to its chain's model."""
    weights = manifest.get("weights", {})
    if not weights:
        return
    chains = list(detector.chains.values())
    for name, number in weights.items():
        _expect(0 <= number < len(chains), p / MANIFEST,
                f"weights: {name!r} belongs to chain {number}; the detector has {len(chains)}")
        contracts.attach_weights(chains[number].model, p / name, f"{p / name}")


def _trust_advice(p: Path) -> str:
    if (p / signing.SIGNATURE_FILE).is_file():
        how = (
            "it is signed: pass the signer's public key with --key FILE (key=FILE in Python, "
            f"or set {signing.VERIFY_KEY_ENV})"
        )
    else:
        how = (
            "it is not signed (sign bundles with [persist] signing_key to load them with "
            "--key instead)"
        )
    return f"{how}, or pass --trusted (trusted=True in Python) if you trust whoever can write {p}"


def _persist_params(manifest: Mapping[str, Any]) -> dict[str, Any]:
    table = dict(manifest["config"].get("persist", {}))
    for key in PERSIST_KEYS:
        table.pop(key, None)
    return table


def load_sample(path: str | Path, manifest: Mapping[str, Any]) -> np.ndarray | None:
    """Return the training sample of a verified bundle, or None when it has none."""
    f = Path(path) / SAMPLE_FILE
    if SAMPLE_FILE not in manifest["files"]:
        return None
    return np.load(f, allow_pickle=False)


# -- listing --------------------------------------------------------------------------------


@attrs.frozen
class BundleInfo:
    """One version of a bundle, for listings."""

    name: str
    version: int
    path: Path
    latest: bool
    created: str | None
    model: str | None
    persister: str | None
    metrics: dict[str, Any]
    threshold: float | None
    error: str | None = None
    champion: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["path"] = str(self.path)
        return out


def _latest_version(root: Path) -> int | None:
    raw = (root / LATEST).read_text(encoding="utf-8").strip() if (root / LATEST).is_file() else ""
    return int(raw) if _NUMBER.fullmatch(raw) else None


def list_bundles(
    directory: str | Path, *, check: bool = False, key: Any = None
) -> list[BundleInfo]:
    """Return every finished version under ``directory`` (an output dir or one ``NAME`` dir).

    Unfinished ``.tmp-`` writes are skipped, and other directories that are not version
    numbers with a :class:`StrayEntryWarning`. Each manifest's digest and shape are checked;
    with ``check``, every file's SHA-256 too, and the signature with a key (``key`` or
    ``ASTRAGUARD_TRAIN_VERIFY_KEY``, as for :func:`load`). A failure is reported in
    :attr:`BundleInfo.error` instead of raising.
    """
    d = Path(directory)
    if not d.is_dir():
        raise BundleError(f"{d}: no such directory")
    public = verification_key(key) if check else None
    roots = [d] if is_store(d) else sorted(
        p for p in d.iterdir() if p.is_dir() and not p.name.startswith(".") and is_store(p)
    )
    out = []
    for root in roots:
        latest = _latest_version(root)
        try:
            champion = read_pointer(root, CHAMPION)
        except BundleError as exc:  # listed, not raised: the listing shows what is wrong
            champion = None
            warnings.warn(str(exc), StrayEntryWarning, stacklevel=2)
        for v in versions(root):
            vdir = root / str(v)
            error = None
            try:
                manifest = verify(vdir, public) if check else read_manifest(vdir)
            except (BundleError, OSError) as exc:
                manifest, error = {}, str(exc)
            out.append(
                BundleInfo(
                    name=root.name,
                    version=v,
                    path=vdir,
                    latest=v == latest,
                    created=manifest.get("created"),
                    model=manifest.get("config", {}).get("model", {}).get("name"),
                    persister=manifest.get("persister"),
                    metrics=dict(manifest.get("metrics", {})),
                    threshold=manifest.get("threshold"),
                    error=error,
                    champion=v == champion,
                )
            )
    return out

