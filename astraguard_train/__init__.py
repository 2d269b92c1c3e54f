"""astraguard-train: spacecraft telemetry in, trained and versioned anomaly detectors out.

The public names below are imported on first use (PEP 562), so ``import astraguard_train``
and ``astraguard-train --version`` do not pay for scikit-learn, pyarrow or PyOD;
``from astraguard_train import Pipeline`` works as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Each public name and the module that defines it.
_EXPORTS: dict[str, str] = {
    "Frame": "astraguard_train.data.frame",
    "Pipeline": "astraguard_train.training.pipeline",
    "PipelineConfig": "astraguard_train.config",
    "RunResult": "astraguard_train.training.result",
    "StageSpec": "astraguard_train.config",
    "TrainingPipeline": "astraguard_train.seed_api",
    "build_registry": "astraguard_train.plugins.manager",
    "load_bundle": "astraguard_train.bundle.scoring",
    "run_pipeline": "astraguard_train.training.pipeline",
    "update_bundle": "astraguard_train.bundle.update",
}

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
    "update_bundle",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports them
    from .bundle.scoring import load_bundle
    from .bundle.update import update_bundle
    from .config import PipelineConfig, StageSpec
    from .data.frame import Frame
    from .plugins.manager import build_registry
    from .seed_api import TrainingPipeline
    from .training.pipeline import Pipeline, run_pipeline
    from .training.result import RunResult


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
