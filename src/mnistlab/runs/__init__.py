"""Runs as things with an identity: when two folders hold the same run."""
