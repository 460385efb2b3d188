"""Failure drills: the faults, the probes and checks that run through them, and their reports."""
