"""What scoring returns: :class:`Scored` rows, and joining the parts of a stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from ..data.frame import Frame
from ..explain.base import concat_columns


@attrs.frozen(eq=False)
class Scored:
    """Scores for the rows of ``frame`` that the chain could score.

    ``frame`` holds the scored rows of the input as they came in (raw feature values under
    their names, timestamps, label, channel, extras), so it can be scored again. Temporal
    transforms with a ``drop`` policy remove warm-up rows, so it may hold fewer rows than the
    input; ``frame.index`` says which. ``flags`` is ``scores > threshold`` after
    post-processing. ``explanations``, when asked for, holds the explanation columns by name
    (see :mod:`astraguard_train.explain`), blank on rows not explained.
    """

    frame: Frame
    scores: np.ndarray
    flags: np.ndarray
    thresholds: np.ndarray
    counts: dict[str, int] = attrs.field(factory=dict)
    explanations: dict[str, np.ndarray] | None = None

    @property
    def n_rows(self) -> int:
        return int(self.scores.shape[0])

    def take(self, rows: Any) -> Scored:
        """The rows selected by a slice, index array or mask (counts left behind)."""
        explained = None if self.explanations is None else {
            k: v[rows] for k, v in self.explanations.items()}
        return Scored(frame=self.frame.take(rows), scores=self.scores[rows],
                      flags=self.flags[rows], thresholds=self.thresholds[rows],
                      explanations=explained)


def join_scored(parts: Sequence[Scored], frame: Frame | None = None) -> Scored:
    """Concatenate scored parts (in row order) into one :class:`Scored`, counts added up.

    :param frame: the parts' frames concatenated, when the caller has it already (the
        parts are its rows, in order): it is not made again.
    """
    parts = [p for p in parts if p.n_rows or p.counts] or list(parts[:1])
    if len(parts) == 1:
        return parts[0] if frame is None else attrs.evolve(parts[0], frame=frame)
    counts: dict[str, int] = {}
    for p in parts:
        for k, v in p.counts.items():
            counts[k] = counts.get(k, 0) + int(v)
    return Scored(
        frame=Frame.concat([p.frame for p in parts]) if frame is None else frame,
        scores=np.concatenate([p.scores for p in parts]),
        flags=np.concatenate([p.flags for p in parts]),
        thresholds=np.concatenate([p.thresholds for p in parts]),
        counts=counts,
        explanations=concat_columns([p.explanations for p in parts], [p.n_rows for p in parts]),
    )
