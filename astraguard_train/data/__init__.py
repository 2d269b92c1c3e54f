"""Data: the :class:`Frame`, the readers and loaders that build it, quality gates, missing
values, splits and the synthetic telemetry generator."""
