"""``update``: a new bundle version that has absorbed new normal rows (and the verdicts).

:func:`update_bundle` loads a version, reads the new data as the training data was read,
leaves out the rows that feedback marks as anomalous, updates each chain
(:func:`~astraguard_train.training.update.update_detector`) and writes the result as the next
version of the same store through the bundle writer (atomic, like any run's). The new
manifest's ``lineage`` names the parent version (and its manifest's SHA-256), the data read,
the rows added and excluded, each chain's outcome, and the feedback used (counts by kind,
ids, and a digest of the ids). The drift reference (profile and training sample) and the
explainer (``explainer.json``) are the parent's: the rows they describe are still the bulk of
what the detector learned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..config import PipelineConfig
from ..data.frame import Frame
from ..errors import NoExplainerError
from ..training.update import FeedbackInterval, UpdateResult, feedback_rows, update_detector
from .profile import fingerprint
from .scoring import BundleDetector, load_bundle, manifest_digest
from .store import load_sample, write_bundle


@attrs.define(eq=False)
class UpdateContext:
    """What :func:`~astraguard_train.bundle.store.write_bundle` reads for an update: the
    parent's config, the updated detector, the lineage, and the parent's drift reference."""

    config: PipelineConfig
    registry: Any
    detector: Any
    lineage: dict[str, Any]
    profile: dict[str, Any]
    training_data: Any
    sample: np.ndarray | None
    metrics: dict[str, Any] = attrs.field(factory=dict)
    #: the parent's explainers, carried over as its drift reference is
    explainers: dict[Any, Any] = attrs.field(factory=dict)
    #: an update neither splits its rows nor scores a test part (a run's context has both)
    split: None = None
    test_scores: None = None


@attrs.frozen(eq=False)
class UpdatedBundle:
    """The new version's path, the update's outcome and the lineage written."""

    path: Path
    result: UpdateResult
    lineage: dict[str, Any]


def update_bundle(
    bundle: str | Path | BundleDetector,
    data: Any,
    *,
    feedback: Sequence[FeedbackInterval] = (),
    refit: bool = True,
    n_jobs: int | None = None,
    key: Any = None,
    trusted: bool = False,
    registry: Any = None,
    **loader_options: Any,
) -> UpdatedBundle:
    """Write the next version of ``bundle``'s store, updated with ``data``'s rows.

    :param bundle: a version directory, ``OUTPUT/NAME`` (its latest version) or a loaded
        :class:`BundleDetector`.
    :param data: a file path (read as the training data was, ``loader_options`` on top) or
        in-memory rows (see :meth:`BundleDetector.to_frame`).
    :param feedback: verdicts and labelled intervals; rows under ``true_alarm``,
        ``labelled`` or ``unsure`` ones are not learned (``false_alarm`` rows are), and the
        judged alarms' peak scores teach a threshold that can learn from them (the
        ``dynamic`` threshold's floor).
    :param refit: False refuses when a chain's model cannot update incrementally, instead of
        refitting it on the new rows alone.
    :param n_jobs: chains updated at once (default: the training config's
        ``[train] n_jobs``), on its ``[train] backend``.
    :raises ConfigError: a refused update (``refit=False``), or a threshold that cannot be
        chosen again for a refitted chain.
    :raises DataError: unreadable data, a missing column or an unknown group.
    """
    loaded = bundle if isinstance(bundle, BundleDetector) else load_bundle(
        bundle, registry, key=key, trusted=trusted)
    frame = _read(loaded, data, loader_options)
    joined = feedback_rows(frame, feedback) if feedback else None
    config = PipelineConfig.from_dict(loaded.manifest["config"])
    store = loaded.path.parent
    config = attrs.evolve(config, persist=attrs.evolve(config.persist, bundle_name=store.name))
    spec = config.threshold
    strategy = loaded.registry.create("threshold", spec.name, spec.params, where="threshold")
    result = update_detector(
        loaded.detector, frame, strategy, feedback=joined, refit=refit,
        n_jobs=config.train.n_jobs if n_jobs is None else n_jobs,
        backend=config.train.backend, scheduler=config.train.scheduler,
    )
    lineage = {
        "parent": {"version": _version(loaded.path), "manifest_sha256":
                   manifest_digest(loaded.path)},
        "data": {"source": str(data) if isinstance(data, (str, Path)) else None,
                 "rows": frame.n_rows, "fingerprint": fingerprint(frame.X)},
        "rows_added": result.rows_added,
        "rows_excluded": 0 if joined is None else int(joined.exclude.sum()),
        "feedback": _feedback_record({} if joined is None else joined.used),
        "update": result.summary(),
    }
    ctx = UpdateContext(
        config=config, registry=loaded.registry, detector=result.detector, lineage=lineage,
        profile=loaded.manifest.get("profile", {}),
        training_data=loaded.manifest.get("training_data"),
        sample=load_sample(loaded.path, loaded.manifest),
        explainers=_explainers(loaded),
    )
    path = write_bundle(ctx, store.parent)
    return UpdatedBundle(path=path, result=result, lineage=lineage)


def _explainers(loaded: BundleDetector) -> dict[Any, Any]:
    """The parent's explainers, none when it has none."""
    try:
        return loaded.explainers()
    except NoExplainerError:
        return {}


def _read(loaded: BundleDetector, data: Any, options: dict[str, Any]) -> Frame:
    if isinstance(data, (str, Path)):
        return loaded.check_frame(loaded.open_loader(data, **options).load())
    return loaded.to_frame(data)


def _version(path: Path) -> int | None:
    return int(path.name) if path.name.isdigit() else None


def _feedback_record(used: dict[str, Any]) -> dict[str, Any]:
    """Counts by kind, the ids, and a digest of the ids (to compare two updates' feedback)."""
    ids = used.get("ids", [])
    digest = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest() if ids else None
    return {"used": bool(ids), "counts": used.get("counts", {}), "ids": ids,
            "digest": digest, "rows_excluded": used.get("rows_excluded", 0)}
