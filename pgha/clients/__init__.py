"""pgha.clients: the engines (Docker), Patroni's REST API and Prometheus, spoken to by every room above."""
