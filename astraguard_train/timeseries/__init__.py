"""Channel telemetry: the forecast-residual detector, the dynamic threshold, alarm
post-processing and event metrics."""
