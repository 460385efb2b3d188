"""pgha, in two rooms: pgha.model, what the Pulumi program is built from, and pgha.ops, the operations run
against a live stack (its command line: `python -m pgha`). Both rooms speak to the engine and to Patroni
through the two clients kept here, docker_api and patroni_api; ops may use the model, never the reverse."""
