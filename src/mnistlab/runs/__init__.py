"""Runs: where their folders are (folders) and when two folders hold the same run (identity)."""
