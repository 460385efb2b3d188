"""The benchmark: pgbench along every path, the connection storm, and what metrics cost."""
