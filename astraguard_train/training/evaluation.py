"""Evaluation: run the configured metric plugins on the scored test part."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..plain_values import plain
from ..plugins.registry import Registry
from .detector import Scored


def evaluate(
    scored: Scored, registry: Registry, names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Return the merged output of each metric plugin (all registered ones by default).

    ``flagged_share`` is always reported; label-based metrics only when the rows have labels,
    which metrics get as 0/1: a row not judged (-1) counts as normal.
    """
    out: dict[str, Any] = {
        "n_scored": scored.n_rows,
        "flagged_share": float(scored.flags.mean()) if scored.n_rows else 0.0,
    }
    y = scored.frame.binary_labels()
    for name in names if names is not None else registry.names("metric"):
        metric = registry.create("metric", name, where=f"evaluate.metrics ({name})")
        out.update(metric(y, scored.scores, scored.flags, scored.frame))
    return {k: plain(v) for k, v in out.items()}
