"""Bundles: writing, verifying and loading them, scoring with them, drift against the
training profile."""
