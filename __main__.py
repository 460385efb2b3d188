"""pgha: a PostgreSQL 17 HA cluster on the local Docker engine; one Pulumi stack per experiment."""

import pulumi

from components.cluster import PostgresCluster, PostgresClusterArgs
from components.credentials import Credentials
from pgha.model import stack_config
from pgha.model.layout import Layout
from pgha.model.render import APP_DATABASE, APP_USER

config = stack_config.load()
passwords = Credentials("credentials", config.passwords).passwords
cluster = PostgresCluster(
    "pgha",
    PostgresClusterArgs(
        Layout(config.settings),
        passwords,
        config.backup_key,
        config.leader,
        config.docker_group,
        config.network_id,
    ),
)

pulumi.export("rwEndpoint", cluster.rw_endpoint)
pulumi.export("roEndpoint", cluster.ro_endpoint)
pulumi.export("statsUrl", cluster.stats_url)
pulumi.export("rwEndpoints", cluster.rw_endpoints)
pulumi.export("roEndpoints", cluster.ro_endpoints)
pulumi.export("statsUrls", cluster.stats_urls)
pulumi.export("connectionString", cluster.connection_string)
pulumi.export("roConnectionString", cluster.ro_connection_string)
pulumi.export("patroniApis", cluster.patroni_apis)
pulumi.export("database", APP_DATABASE)
pulumi.export("user", APP_USER)
pulumi.export("password", passwords.apply(lambda p: p.app))
pulumi.export("superuserPassword", passwords.apply(lambda p: p.superuser))
pulumi.export("patroniApiPassword", passwords.apply(lambda p: p.patroni_api))
if cluster.placement:
    pulumi.export("swarmNodes", list(config.settings.swarm_nodes))
    pulumi.export("placement", cluster.placement)
if cluster.prometheus_url:
    pulumi.export("prometheusUrl", cluster.prometheus_url)
