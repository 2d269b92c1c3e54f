"""What a scoring call asks to be explained, and the explanation columns of one chain's
chunk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from ..data.frame import Frame
from ..errors import ConfigError
from .base import Contributions, Rescorer, top_columns


@attrs.frozen(eq=False)
class Explaining:
    """Explain the rows a chain flags (raw threshold crossings), or more.

    :param explainers: the fitted explainer per chain key.
    :param top: how many features to name per row.
    :param all_rows: explain every scored row, flagged or not.
    :param rows: input row positions (the output's ``row``) to explain besides the flagged.
    :param limit: explain at most this many rows of a chain's chunk (flagged or asked for),
        the widest threshold crossings first (a run's report needs the strongest alarms,
        not all of a noisy test part's); ``None`` explains them all.
    """

    explainers: Mapping[Any, Any]
    top: int = 3
    all_rows: bool = False
    rows: np.ndarray | None = None
    limit: int | None = None

    def __attrs_post_init__(self) -> None:
        if isinstance(self.top, bool) or not isinstance(self.top, int) or self.top < 1:
            raise ConfigError(f"--explain: the number of features must be at least 1, got "
                              f"{self.top!r}")

    def wanted(self, scores: np.ndarray, thresholds: np.ndarray,
               positions: np.ndarray) -> np.ndarray:
        """The rows (positions in the chunk) to explain."""
        if self.all_rows:
            return np.arange(scores.size)
        want = scores > thresholds
        if self.rows is not None:
            want |= np.isin(positions, self.rows)
        rows = np.flatnonzero(want)
        if self.limit is not None and rows.size > self.limit:
            margin = (scores - thresholds)[rows]
            rows = np.sort(rows[np.argsort(-margin, kind="stable")[: self.limit]])
        return rows

    def final(self, scored: Any) -> Any:
        """``scored`` (rows with final flags) with the explanations of rows neither flagged
        nor asked for blanked: a raw threshold crossing that post-processing dropped (too
        short an alarm) is no alarm to explain."""
        if scored.explanations is None or self.all_rows:
            return scored
        keep = np.asarray(scored.flags, dtype=bool)
        if self.rows is not None:
            keep = keep | np.isin(scored.frame.index, self.rows)
        if keep.all():
            return scored
        # fresh blank columns with the kept rows copied in: alarms are a few percent of the
        # rows, and copying whole text columns to blank most of them cost more
        kept = np.flatnonzero(keep)
        cleared = {}
        for name, values in scored.explanations.items():
            blank = (np.zeros(values.shape, values.dtype) if values.dtype.kind == "U"
                     else np.full(values.shape, np.nan, values.dtype))
            blank[kept] = values[kept]
            cleared[name] = blank
        return attrs.evolve(scored, explanations=cleared)

    def columns(self, key: Any, chain: Any, feats: Frame, scores: np.ndarray,
                thresholds: np.ndarray, positions: np.ndarray,
                rescore: Rescorer) -> dict[str, np.ndarray]:
        """The explanation columns of one chain's scored chunk."""
        explainer = self.explainers.get(key)
        if explainer is None:
            explainer = self.explainers[None]
        rows = self.wanted(scores, thresholds, positions)
        found = explainer.explain(chain, feats, scores, rows, rescore)
        if not isinstance(found, Contributions):
            raise TypeError(f"explainer {type(explainer).__name__}.explain returned "
                            f"{type(found).__name__}, not Contributions")
        return top_columns(found, scores.size, self.top)
