"""The data map as a report draws it: a bundle's :class:`~astraguard_train.bundle.data_map.
DataMap` joined with its scored rows, so that each scored point carries its score, flag,
label, time and channel, and each training point its time and channel; and its t-SNE.

t-SNE is fitted here, when a report is written, never when a bundle is: it costs seconds of
CPU that a run (or a test, ``retrain``, ``tune``) would pay for a picture nobody may look at.
It is fitted on at most :data:`~astraguard_train.bundle.embedding.TSNE_ROWS` of each side's
kept points, drawn as the kept sample was (seeded, each channel its share, labelled
anomalies and alarms first), so the same bundle always gives the same picture.
"""

from __future__ import annotations

import attrs
import numpy as np

from ..bundle.data_map import DataMap
from ..bundle.embedding import TSNE_ROWS, stratified_positions, tsne
from ..bundle.evaluation import Evaluation


@attrs.frozen(eq=False)
class MapView:
    """Both samples' coordinates and what a point's hover shows.

    ``*_x`` is milliseconds since the epoch when rows have timestamps, else the row's
    position in its source; ``*_channel`` are codes into ``channels`` (None without
    channels); ``explained`` is the share of the training sample's variance on each PCA axis.
    ``*_tsne`` are the t-SNE coordinates of the points at ``*_tsne_at`` (positions among that
    side's points).
    """

    n_features: int
    explained: np.ndarray
    train_pca: np.ndarray
    train_tsne: np.ndarray
    train_tsne_at: np.ndarray
    train_x: np.ndarray
    scored_pca: np.ndarray
    scored_tsne: np.ndarray
    scored_tsne_at: np.ndarray
    scored_x: np.ndarray
    scores: np.ndarray
    thresholds: np.ndarray
    flags: np.ndarray
    labels: np.ndarray | None
    channels: tuple[str, ...] = ()
    train_channel: np.ndarray | None = None
    scored_channel: np.ndarray | None = None
    left_out: tuple[int, int] = (0, 0)


def _ms(timestamps: np.ndarray) -> np.ndarray:
    return np.asarray(timestamps, dtype="datetime64[ns]").astype(np.int64) / 1e6


def map_view(data_map: DataMap, ev: Evaluation, tsne_rows: int = TSNE_ROWS) -> MapView:
    """The view of ``data_map`` whose scored rows are those of ``ev``, with the t-SNE of at
    most ``tsne_rows`` points per side."""
    rows = data_map.scored_rows
    train_x, scored_x = data_map.train_index, ev.index[rows]
    if ev.timestamps is not None and data_map.train_timestamps is not None:
        train_x, scored_x = _ms(data_map.train_timestamps), _ms(ev.timestamps[rows])
    names: tuple[str, ...] = ()
    train_ch = scored_ch = None
    if ev.channels is not None and data_map.train_channels is not None:
        table, codes = np.unique(
            np.concatenate([data_map.train_channels, np.asarray(ev.channels)[rows]]),
            return_inverse=True,
        )
        names = tuple(str(n) for n in table)
        n = data_map.train_X.shape[0]
        train_ch, scored_ch = codes[:n], codes[n:]
    train_marked = (np.zeros(data_map.train_X.shape[0], dtype=bool)
                    if data_map.train_labels is None else data_map.train_labels == 1)
    scored_marked = np.asarray(ev.flags[rows], dtype=bool)
    if ev.labels is not None:
        scored_marked = scored_marked | (ev.labels[rows] == 1)
    train_at = stratified_positions(train_marked, train_ch, tsne_rows)
    scored_at = stratified_positions(scored_marked, scored_ch, tsne_rows)
    both = tsne(np.concatenate([data_map.train_X[train_at], data_map.scored_X[scored_at]]))
    return MapView(
        n_features=len(data_map.features), explained=data_map.explained,
        train_pca=data_map.train_pca, train_tsne=both[: train_at.size], train_tsne_at=train_at,
        train_x=np.asarray(train_x, dtype=np.float64),
        scored_pca=data_map.scored_pca, scored_tsne=both[train_at.size:],
        scored_tsne_at=scored_at,
        scored_x=np.asarray(scored_x, dtype=np.float64),
        scores=ev.scores[rows], thresholds=ev.thresholds[rows], flags=ev.flags[rows],
        labels=None if ev.labels is None else ev.labels[rows],
        channels=names, train_channel=train_ch, scored_channel=scored_ch,
        left_out=data_map.left_out,
    )
