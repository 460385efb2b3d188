"""pgha: the operations package of a PostgreSQL HA cluster deployed by Pulumi.

Its rooms, each importing only from the ones below it (import-linter keeps it so, `make lint`):
- pgha.cli: the `pgha` command.
- pgha.ops: operations run against a live stack, in rooms by concern (beside components/, the Pulumi resources).
- pgha.actions: what Pulumi's dynamic providers run on a live stack (rolling restarts, password rollout, the first
  backup, deploys), shared with the operations.
- pgha.model: what the program is built from: settings, layout, rendering, images, host checks.
- pgha.clients: the Docker engine, Patroni's REST API and Prometheus.
- pgha.names: the name of everything pgha makes.
"""
