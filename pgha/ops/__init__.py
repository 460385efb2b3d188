"""pgha.ops: operations run against a live, deployed stack."""
