"""Detectors: the scikit-learn wrappers, PyOD's detectors and the score ensemble."""
