"""Keeping a detector healthy after training: comparing a challenger with the champion on the
same rows (A/B, shadow mode) and deciding whether to promote it."""
