"""Choosing the detector: the search space, ``tune`` and ``compare``."""

from .tuning import Comparison, TuneResult, compare, tune

__all__ = ["Comparison", "TuneResult", "compare", "tune"]
