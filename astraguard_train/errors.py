"""Every error astraguard-train raises on purpose.

Each class subclasses :class:`AstraGuardError` and the builtin exception that callers already
catch, so ``except ValueError`` keeps working around library calls. Messages name the place
(file, line, row, column or dotted config key) and the rule that was broken.
"""

from __future__ import annotations


class AstraGuardError(Exception):
    """Base class of every error raised by astraguard-train."""


class ConfigError(AstraGuardError, ValueError):
    """A pipeline config (TOML, ``--set`` or Python) is malformed; the message names the key."""


class PluginError(AstraGuardError, LookupError):
    """A plugin could not be found, registered or used."""


class UnknownPluginError(PluginError):
    """No plugin of that kind has that name; the message lists what exists."""


class DuplicatePluginError(PluginError):
    """Two plugins registered the same (kind, name); the message names both."""


class DataError(AstraGuardError, ValueError):
    """Input data is unreadable or inconsistent; the message names file, row and column."""


class OutputError(AstraGuardError, OSError):
    """An output file could not be written (a full disk, no permission); the message names
    it, and no partial file is left under its name."""


class MissingExtraError(AstraGuardError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


class FeedbackError(AstraGuardError, ValueError):
    """A feedback record or review sheet is invalid, or names a bundle version or channel
    that does not exist; the message names the file, line and column (or the option)."""


class ValidationFailed(DataError):
    """A quality gate set to ``error`` failed; :attr:`report` holds the full report."""

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class NotFittedError(AstraGuardError, ValueError, AttributeError):
    """An estimator or detector was used before ``fit``."""


class StageError(AstraGuardError, RuntimeError):
    """A pipeline stage failed; :attr:`stage` names it and ``__cause__`` holds the reason."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"stage '{stage}' failed: {message}")
        self.stage = stage


class BundleError(AstraGuardError, ValueError):
    """A model bundle cannot be written or loaded."""


class IntegrityError(BundleError):
    """A bundle file's SHA-256 does not match its manifest; the message names the file."""


class SignatureError(IntegrityError):
    """A bundle's signature is missing, malformed or made with another key than the given one."""


class UntrustedBundleError(BundleError):
    """Loading a bundle would run its code (pickle) and nobody vouched for it; refused."""


class BundleFormatError(BundleError):
    """A bundle was written in a newer format than this version of astraguard-train reads."""


class BundlePluginError(BundleError, LookupError):
    """A plugin a bundle needs is not installed; the message names the distribution."""


class UntrustedTypeError(BundleError):
    """A bundle file holds a type outside the persister's allow-list; loading was refused."""


class StrayEntryWarning(UserWarning):
    """A bundle store holds a directory that is not a version; it is skipped."""


class LibraryVersionWarning(UserWarning):
    """A bundle was written with other library versions than the ones installed now."""


class ConformanceError(AstraGuardError, AssertionError):
    """A plugin breaks its kind's contract (``astraguard_train.testing``); names the check."""


class NoExplainerError(BundleError):
    """A bundle holds no explainer (written before explanations existed, or without one);
    the message says how to add one."""
