"""What a pipeline run returns."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class StageResult:
    """One stage's name, wall time and a JSON-friendly summary of its output."""

    name: str
    seconds: float
    summary: dict[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seconds": round(self.seconds, 6), "summary": self.summary}


@attrs.frozen
class RunResult:
    """The outcome of :meth:`Pipeline.run`.

    ``counts`` records what stages removed or filled (missing values, warm-up rows, rows left
    out of training), so nothing disappears silently.
    """

    status: str
    stages: tuple[StageResult, ...] = ()
    n_train_samples: int = 0
    n_validation_samples: int = 0
    n_test_samples: int = 0
    metrics: dict[str, Any] = attrs.field(factory=dict)
    threshold: float | None = None
    threshold_info: dict[str, Any] = attrs.field(factory=dict)
    artifact: str | None = None
    feature_names: tuple[str, ...] = ()
    counts: dict[str, int] = attrs.field(factory=dict)
    warnings: tuple[str, ...] = ()
    error: str | None = None
    failed_stage: str | None = None
    #: The HTML report written for the run (``report=`` / ``run --report``), before
    #: ``after_run`` fires, so a tracking plugin can log it; None when none was asked for.
    report_path: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "stages": [s.to_dict() for s in self.stages],
            "n_train_samples": self.n_train_samples,
            "n_validation_samples": self.n_validation_samples,
            "n_test_samples": self.n_test_samples,
            "metrics": self.metrics,
            "threshold": self.threshold,
            "threshold_info": self.threshold_info,
            "artifact": self.artifact,
            "feature_names": list(self.feature_names),
            "counts": self.counts,
            "warnings": list(self.warnings),
            "error": self.error,
            "failed_stage": self.failed_stage,
            "report_path": self.report_path,
            "pipeline_time_seconds": round(self.seconds, 6),
        }
