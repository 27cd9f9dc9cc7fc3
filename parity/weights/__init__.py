"""Weights between frameworks: state slots (state), moving them by name (transfer), files on disk (checkpoint)."""
