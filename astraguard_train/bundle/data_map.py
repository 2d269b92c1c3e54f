"""The data map a bundle keeps for its report: a sample of training and scored rows as the
detector sees them (after the transforms and the scaler), and their PCA coordinates.

``data_map.npz`` (no pickle: numeric, ``datetime64`` and fixed-width text arrays only) holds
at most :data:`~astraguard_train.bundle.embedding.MAP_ROWS` training rows and as many scored
test rows, drawn with a fixed seed, labelled anomalies and alarms first (see
:func:`~astraguard_train.bundle.embedding.sample_positions`): their feature vectors, where
they came from (source row, time, channel, label for training rows; the position among the
kept scored rows of ``evaluation.npz`` for scored ones), the PCA axes fitted on the training
sample and both samples' PCA coordinates. Everything here is cheap, so every run pays for it;
t-SNE is not, and is fitted from these feature vectors only when a report is written (see
:mod:`astraguard_train.report.map_view`). ``report BUNDLE DATA`` samples the new scored rows
and projects them on the kept PCA axes. Like every file of a bundle it is listed in the
manifest and its checksum is verified before it is read.

Per-group (per-channel) bundles keep one pooled map: every channel's rows in the features
its own chain gives them, so the map shows what each detector saw, side by side. When the
chains' features differ (per-group feature selection), their rows share no space and the
bundle keeps no map. Nothing here ever feeds a detector.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..data.frame import Frame
from ..errors import BundleError
from ..training.scored import Scored
from .embedding import MAP_ROWS, pca_axes, project, sample_positions

DATA_MAP_FILE = "data_map.npz"


@attrs.frozen(eq=False)
class DataMap:
    """Sampled training and scored rows, their features and their PCA coordinates.

    ``train_*`` arrays have one entry per sampled training row and ``scored_*`` ones per
    sampled scored row; ``scored_rows`` are positions among the scored rows (in scoring
    order), so the score, flag, label, time and channel of each come from those rows.
    ``mean``, ``components`` and ``explained`` are the PCA axes of the training sample.
    """

    features: tuple[str, ...]
    train_X: np.ndarray
    train_index: np.ndarray
    scored_X: np.ndarray
    scored_rows: np.ndarray
    mean: np.ndarray
    components: np.ndarray
    explained: np.ndarray
    train_pca: np.ndarray
    scored_pca: np.ndarray
    train_labels: np.ndarray | None = None
    train_timestamps: np.ndarray | None = None
    train_channels: np.ndarray | None = None
    #: training and scored rows left out of the draw: dropped by a transform (warm-up), a
    #: feature not finite, or no chain for their group
    left_out: tuple[int, int] = (0, 0)

    @classmethod
    def build(
        cls, detector: Any, train: Frame, scored: Scored, rows: int = MAP_ROWS,
        features: Mapping[Any, Frame] | None = None,
    ) -> DataMap | None:
        """The map of ``train`` (the training part) and ``scored`` (its scored test rows).

        :param rows: rows drawn per side at most.
        :param features: each chain's features of its rows of ``train``, by chain key, when
            the run has them already (its training plan's): they are not computed again.
        :returns: None when there is nothing to draw, or when the detector's chains give
            their rows different features.
        """
        marked = None if train.labels is None else train.labels == 1
        got = _sample(detector, train, marked, rows, fallback=False, known=features)
        if got is None or not got[2].size:
            return None
        names, train_X, pos, placed = got
        mean, components, explained = pca_axes(train_X)
        none, flat = np.zeros((0, 2)), np.zeros((0, train_X.shape[1]))
        return cls(
            features=names, train_X=train_X, train_index=train.index[pos],
            scored_X=flat, scored_rows=np.zeros(0, dtype=np.int64),
            mean=mean, components=components, explained=explained,
            train_pca=project(train_X, mean, components), scored_pca=none,
            train_labels=None if train.labels is None else train.labels[pos],
            train_timestamps=None if train.timestamps is None else train.timestamps[pos],
            train_channels=None if train.channels is None else np.asarray(
                train.channels[pos]).astype(str),
            left_out=(train.n_rows - placed, 0),
        ).with_scored(detector, scored, rows)

    def with_scored(self, detector: Any, scored: Scored, rows: int = MAP_ROWS) -> DataMap:
        """This map with ``scored`` as its scored rows (at most ``rows`` of them, drawn as in
        :meth:`build`), projected on the kept PCA axes."""
        X, at = np.zeros((0, self.train_X.shape[1])), np.zeros(0, dtype=np.int64)
        left_out = scored.n_rows
        marked = np.asarray(scored.flags, dtype=bool)
        if scored.frame.labels is not None:
            marked = marked | (scored.frame.labels == 1)
        got = _sample(detector, scored.frame, marked, rows, fallback=True)
        if got is not None and got[0] == self.features:
            _, X, at, placed = got
            left_out = scored.n_rows - placed
        return attrs.evolve(
            self, scored_X=X, scored_rows=at, scored_pca=project(X, self.mean, self.components),
            left_out=(self.left_out[0], left_out),
        )

    def save(self, path: str | Path) -> None:
        """Write the map to ``path`` (a compressed ``.npz``, no pickle)."""
        arrays: dict[str, Any] = {
            "features": np.asarray(self.features, dtype=str),
            "left_out": np.asarray(self.left_out, dtype=np.int64),
            "mean": self.mean, "components": self.components, "explained": self.explained,
            "train_index": self.train_index, "scored_rows": self.scored_rows,
        }
        for name in ("train_X", "scored_X", "train_pca", "scored_pca"):
            arrays[name] = np.asarray(getattr(self, name), dtype=np.float32)
        if self.train_labels is not None:
            arrays["train_labels"] = self.train_labels
        if self.train_timestamps is not None:
            arrays["train_timestamps"] = np.asarray(self.train_timestamps, "datetime64[ns]")
        if self.train_channels is not None:
            arrays["train_channels"] = np.asarray(self.train_channels, dtype=str)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path, n_scored: int | None = None) -> DataMap:
        """Read a map written by :meth:`save` (never unpickling anything) whose scored rows
        are among ``n_scored`` (None: not checked, for a map whose scored rows are replaced).

        :raises BundleError: naming the file when its arrays do not fit together.
        """
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        try:
            out = cls(
                features=tuple(str(f) for f in arrays.pop("features")),
                left_out=tuple(int(v) for v in arrays.pop("left_out")),  # type: ignore[arg-type]
                **arrays,
            )
        except TypeError as exc:
            raise BundleError(f"{path}: not a data map this version reads ({exc})") from None
        out.check(path, n_scored)
        return out

    def check(self, path: str | Path, n_scored: int | None = None) -> None:
        """:raises BundleError: naming ``path`` when the arrays' shapes disagree."""
        n_t, n_s, d = self.train_X.shape[0], self.scored_X.shape[0], len(self.features)
        shapes = {
            "train_X": (n_t, d), "scored_X": (n_s, d), "train_index": (n_t,),
            "scored_rows": (n_s,), "mean": (d,), "components": (2, d), "explained": (2,),
            "train_pca": (n_t, 2), "scored_pca": (n_s, 2),
        }
        for name in ("train_labels", "train_timestamps", "train_channels"):
            if getattr(self, name) is not None:
                shapes[name] = (n_t,)
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise BundleError(f"{path}: {name} has shape {getattr(self, name).shape}, "
                                  f"expected {shape}")
        if n_scored is not None and n_s and not (
                0 <= self.scored_rows.min() and self.scored_rows.max() < n_scored):
            raise BundleError(f"{path}: scored_rows point outside the {n_scored} scored rows")


def _groups(
    detector: Any, frame: Frame, fallback: bool
) -> Iterator[tuple[Any, Any, np.ndarray | None]]:
    """Each chain's key, the chain and the positions of its rows in ``frame`` (None: all of
    them; the fallback chain for groups without one, when ``fallback``; rows no chain scores
    are left out)."""
    if detector.group_by is None:
        yield None, detector.chains[None], None
        return
    for key, rows in frame.groups(detector.group_by).items():
        if key in detector.chains:
            yield key, detector.chains[key], rows
        elif fallback and None in detector.chains:
            yield None, detector.chains[None], rows


def _sample(
    detector: Any, frame: Frame, marked: np.ndarray | None, rows: int, fallback: bool,
    known: Mapping[Any, Frame] | None = None,
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, int] | None:
    """``(names, X, positions, placed)``: at most ``rows`` rows of ``frame`` as their chains'
    models see them, drawn by :func:`sample_positions` (``marked`` rows first), each row's
    position in ``frame``, and how many rows could be placed at all (a transform may drop
    rows, and a row with a non-finite feature has no place). None when two chains give
    different features.

    Each group's features are computed whole (lags need their context), unless ``known``
    has them by chain key, then cut to its share of ``rows`` before the next group, so
    memory stays that of one group.
    """
    names: tuple[str, ...] | None = None
    parts, where, placed = [], [], 0
    for key, chain, rows_of in _groups(detector, frame, fallback):
        # a group served by the fallback chain has no features of its own in ``known``
        feats = None if known is None or fallback else known.get(key)
        if feats is None:
            feats = chain.features(frame if rows_of is None else frame.take(rows_of))
        if names is None:
            names = feats.columns
        elif feats.columns != names:
            return None
        index = frame.index if rows_of is None else frame.index[rows_of]
        if feats.n_rows == index.size and np.array_equal(feats.index, index):
            at = np.arange(index.size) if rows_of is None else rows_of
        else:  # a transform dropped rows: find the survivors by their source index
            order = np.argsort(index, kind="stable")
            at = order[np.searchsorted(index, feats.index, sorter=order)]
            at = at if rows_of is None else rows_of[at]
        X = feats.X
        with np.errstate(over="ignore", invalid="ignore"):
            clean = bool(np.isfinite(X.sum()))  # no NaN or inf: nothing to leave out or copy
        if not clean:
            finite = np.isfinite(X).all(axis=1)
            at, X = at[finite], X[finite]
        placed += at.size
        share = -(-rows * index.size // max(frame.n_rows, 1))  # ceiling
        pick = sample_positions(at.size, None if marked is None else marked[at], share)
        parts.append(X[pick])
        where.append(at[pick])
    if names is None:
        return None
    pos = np.concatenate(where)
    order = np.argsort(pos, kind="stable")
    X, pos = np.concatenate(parts)[order], pos[order]
    pick = sample_positions(pos.size, None if marked is None else marked[pos], rows)
    return names, X[pick], pos[pick], placed


def load_data_map(
    path: str | Path, manifest: Any, n_scored: int | None = None
) -> DataMap | None:
    """The kept data map of a verified bundle, or None when it keeps none (written before
    bundles kept one, or its chains see different features)."""
    if DATA_MAP_FILE not in manifest["files"]:
        return None
    return DataMap.load(Path(path) / DATA_MAP_FILE, n_scored)
