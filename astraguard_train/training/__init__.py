"""Training: the seven-stage pipeline, fitting chains per group, thresholds and evaluation."""
