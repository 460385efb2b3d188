"""Backups as a user runs them (take, list, drop) and the recovery drills."""
