"""The original design's API, kept for code written against it."""

from __future__ import annotations

from typing import Any

import attrs

from .config import PipelineConfig, StageSpec
from .training.pipeline import Pipeline


class TrainingPipeline:
    """``TrainingPipeline(config).run_full_pipeline(path, data_type="csv")``.

    Runs the configured pipeline with its loader replaced by the ``data_type`` loader reading
    ``path``; returns a dict with ``status``, ``pipeline_time_seconds``, ``n_train_samples``,
    ``model_path`` and the rest of :meth:`RunResult.to_dict`.
    """

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()

    def run_full_pipeline(
        self,
        data_path: str,
        data_type: str = "csv",
        output: str | None = None,
        **loader_params: Any,
    ) -> dict[str, Any]:
        config = self.config
        params = {"path": str(data_path), **loader_params}
        if config.loader.name == data_type:
            params = {**config.loader.params, **params}
        config = attrs.evolve(config, loader=StageSpec(data_type, params))
        result = Pipeline(config).run(output=output)
        out = result.to_dict()
        out["model_path"] = result.artifact
        return out
