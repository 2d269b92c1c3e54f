"""Operators in the loop: the feedback store, per-row labels from it, and active review."""

from .labels import feedback_labels
from .records import FeedbackRecords
from .store import FeedbackStore

__all__ = ["FeedbackRecords", "FeedbackStore", "feedback_labels"]
