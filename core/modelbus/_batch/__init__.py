"""Batches of requests: the runner and batch files."""
