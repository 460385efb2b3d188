"""Pulumi ComponentResources of a pgha stack, one per file."""
