"""astraguard-train: spacecraft telemetry in, trained and versioned anomaly detectors out."""

from __future__ import annotations

__version__ = "0.1.0"

from .bundle.scoring import load_bundle  # noqa: E402
from .config import PipelineConfig, StageSpec  # noqa: E402
from .data.frame import Frame  # noqa: E402
from .plugins.manager import build_registry  # noqa: E402
from .seed_api import TrainingPipeline  # noqa: E402
from .training.pipeline import Pipeline, run_pipeline  # noqa: E402
from .training.result import RunResult  # noqa: E402

__all__ = [
    "Frame",
    "Pipeline",
    "PipelineConfig",
    "RunResult",
    "StageSpec",
    "TrainingPipeline",
    "__version__",
    "build_registry",
    "load_bundle",
    "run_pipeline",
]
