"""pgha: settings, rendering and operations tooling for the Pulumi program in this repository."""
