"""Experiments: every variant of a file as its own stack, drilled and benchmarked, and the timed up/destroy loop."""
