"""The program's shape under Pulumi's mocks: no engine, no Docker."""

from collections import Counter

import pulumi
import pytest
from pulumi.runtime import rpc

from pgha.model import render
from pgha.model.layout import Layout
from pgha.model.settings import parse

PASSWORDS = render.Passwords("su-pw", "repl-pw", "app-pw", "auth-pw", "api-pw", "monitor-pw")
BACKUP_KEY = "backup-key-of-this-test-0123"


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self):
        self.resources = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """Keeps each registration's parent and what it depends on: URNs end in `::<name>`."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.parents, self.dependencies, self.requests = {}, {}, {}

    def RegisterResource(self, request):
        self.requests[request.name] = request
        self.parents[(request.type, request.name)] = request.parent.rsplit("::", 1)[-1]
        self.dependencies[request.name] = {urn.rsplit("::", 1)[-1] for urn in request.dependencies}
        return super().RegisterResource(request)


def deploy(inspect=None, leader=None, monitor_out=None, network_id=None, **raw):
    """Declares a whole cluster under mocks; returns every registered resource once all are in.
    `inspect`, an async function given the cluster, runs in the same event loop (to await its outputs)."""
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="pgha", stack="t1", preview=False, monitor=monitor)
    from components.cluster import PostgresCluster, PostgresClusterArgs

    settings = parse("t1", {"subnet": "10.213.9.0/24", **{k: str(v) for k, v in raw.items()}})

    @pulumi.runtime.test
    def declare():
        cluster = PostgresCluster(
            "pgha",
            PostgresClusterArgs(
                Layout(settings),
                pulumi.Output.secret(PASSWORDS),
                pulumi.Output.secret(BACKUP_KEY),
                leader,
                network_id=network_id,
            ),
        )
        return inspect(cluster) if inspect else None

    declare()
    if monitor_out is not None:
        monitor_out.append(monitor)
    return mocks.resources, monitor.parents


def unwrap_secret(value):
    """(True, plain) for a value Pulumi serialised as a secret, else (False, value)."""
    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return True, value["value"]
    return False, value


def labels(resource):
    return {item["label"]: item["value"] for item in resource.inputs.get("labels", [])}


def of_type(resources, typ):
    return [r for r in resources if r.typ == typ]


@pytest.mark.parametrize("nodes, etcd, haproxy", [(1, 1, 1), (3, 3, 2), (5, 5, 3)])
def test_resource_graph_scales_with_node_counts(nodes, etcd, haproxy):
    resources, _ = deploy(postgresNodes=nodes, etcdNodes=etcd, haproxyNodes=haproxy)
    containers = of_type(resources, "docker:index/container:Container")
    roles = Counter(labels(c)["pgha.role"] for c in containers)
    assert roles == {
        "etcd": etcd,
        "postgres": nodes,
        "pgbouncer": nodes,
        "haproxy": haproxy,
        "failover-watcher": 1,
        "docker-proxy": 1,
        "pgbackrest": 1,
        "prometheus": 1,
        "postgres-exporter": nodes,
        "pgbouncer-node-exporter": nodes,
        "pgbouncer-leader-exporter": nodes,
    }
    # + the backup repository, Prometheus' data and the Docker API proxy's socket
    assert len(of_type(resources, "docker:index/volume:Volume")) == etcd + nodes + 3
    assert len(of_type(resources, "docker:index/network:Network")) == 1
    images = of_type(resources, "docker:index/image:Image")
    assert sorted(i.name for i in images) == [
        "docker-proxy-image",
        "etcd-image",
        "failover-watcher-image",
        "haproxy-image",
        "patroni-image",
        "pgbackrest-image",
        "pgbouncer-exporter-image",
        "pgbouncer-image",
        "postgres-exporter-image",
        "prometheus-image",
    ]


def test_metrics_off_declares_no_prometheus_and_no_exporter():
    resources, _ = deploy(metrics="false")
    roles = {labels(c)["pgha.role"] for c in of_type(resources, "docker:index/container:Container")}
    assert roles == {"etcd", "postgres", "pgbouncer", "haproxy", "failover-watcher", "docker-proxy", "pgbackrest"}


def test_components_have_pgha_type_tokens_and_own_their_children():
    resources, parents = deploy()
    tokens = {r.typ for r in resources if r.typ.startswith("pgha:")}
    assert tokens == {
        "pgha:cluster:PostgresCluster",
        "pgha:network:Network",
        "pgha:etcd:EtcdCluster",
        "pgha:patroni:PatroniCluster",
        "pgha:pgbouncer:PgBouncerPools",
        "pgha:haproxy:HAProxy",
        "pgha:failover:FailoverWatcher",
        "pgha:failover:DockerProxy",
        "pgha:pgbackrest:BackupRepository",
        "pgha:pgbackrest:RepositoryHost",
        "pgha:prometheus:Prometheus",
        "pgha:exporters:PostgresExporters",
        "pgha:exporters:PgBouncerExporters",
    }
    component = {name: p for (typ, name), p in parents.items() if typ.startswith("pgha:")}
    child = {name: p for (typ, name), p in parents.items() if typ.startswith("docker:")}
    assert component["pgha"].endswith("-t1"), "only the top component hangs off the stack"
    assert {component[c] for c in ("network", "etcd", "patroni", "pgbouncer", "haproxy")} == {"pgha"}
    assert child["postgres-2"] == child["postgres-2-data"] == child["patroni-image"] == "patroni"
    assert (child["pgbouncer-1"], child["etcd-3"], child["haproxy-1"], child["haproxy-2"], child["network"]) == (
        "pgbouncer",
        "etcd",
        "haproxy",
        "haproxy",
        "network",
    )


def test_every_docker_object_is_named_and_labelled_for_its_stack():
    resources, _ = deploy()
    for r in resources:
        if r.typ.startswith("docker:") and r.typ != "docker:index/image:Image":
            assert r.inputs["name"].startswith("pgha-t1"), r.inputs["name"]
            assert labels(r)["pgha.stack"] == "t1"
            assert labels(r)["pgha.role"] in {
                "etcd",
                "postgres",
                "pgbouncer",
                "haproxy",
                "failover-watcher",
                "docker-proxy",
                "network",
                "pgbackrest",
                "prometheus",
                "postgres-exporter",
                "pgbouncer-node-exporter",
                "pgbouncer-leader-exporter",
            }
    members = [labels(c).get("pgha.member") for c in of_type(resources, "docker:index/container:Container")]
    assert sorted(m for m in members if m) == ["postgres-1", "postgres-2", "postgres-3"]


def test_only_haproxy_patroni_and_prometheus_ports_are_published_on_the_bind_address():
    resources, _ = deploy(
        bindAddress="127.0.0.1", rwPort=15000, roPort=15001, statsPort=17000, patroniPort=18008, prometheusPort=19090
    )
    published = {}
    for c in of_type(resources, "docker:index/container:Container"):
        for port in c.inputs.get("ports", []):
            assert port["ip"] == "127.0.0.1"
            published[port["external"]] = (c.name, port["internal"])
    assert published == {
        15000: ("haproxy-1", 5000),
        15001: ("haproxy-1", 5001),
        17000: ("haproxy-1", 7000),
        15010: ("haproxy-2", 5000),
        15011: ("haproxy-2", 5001),
        17010: ("haproxy-2", 7000),
        18008: ("postgres-1", 8008),
        18009: ("postgres-2", 8008),
        18010: ("postgres-3", 8008),
        19090: ("prometheus", 9090),
    }


def test_outputs_list_every_instance_and_give_a_secret_connection_string_over_them():
    seen: dict[str, tuple] = {}

    async def read(cluster):
        for name in ("connection_string", "ro_connection_string"):
            output = getattr(cluster, name)
            seen[name] = (await output.is_secret(), await output.future())
        seen["endpoints"] = (cluster.rw_endpoints, cluster.ro_endpoints, cluster.stats_urls)
        seen["first"] = (cluster.rw_endpoint, cluster.ro_endpoint, cluster.stats_url)

    deploy(read, rwPort=15000, roPort=15001, statsPort=17000)
    assert seen["endpoints"] == (
        ["127.0.0.1:15000", "127.0.0.1:15010"],
        ["127.0.0.1:15001", "127.0.0.1:15011"],
        ["http://127.0.0.1:17000/", "http://127.0.0.1:17010/"],
    )
    assert seen["first"] == ("127.0.0.1:15000", "127.0.0.1:15001", "http://127.0.0.1:17000/")
    assert seen["connection_string"] == (
        True,
        "postgresql://app:app-pw@127.0.0.1:15000,127.0.0.1:15010/app?target_session_attrs=any&connect_timeout=2"
        "&keepalives_idle=2&keepalives_interval=1&keepalives_count=3&tcp_user_timeout=5000",
    )
    assert seen["ro_connection_string"] == (
        True,
        "postgresql://app:app-pw@127.0.0.1:15001,127.0.0.1:15011/app?target_session_attrs=any&connect_timeout=2"
        "&keepalives_idle=2&keepalives_interval=1&keepalives_count=3&tcp_user_timeout=5000",
    )


def test_containers_get_fixed_addresses_and_rendered_configuration():
    resources, _ = deploy()
    by_name = {r.name: r for r in of_type(resources, "docker:index/container:Container")}
    assert by_name["postgres-2"].inputs["networksAdvanced"][0]["ipv4Address"] == "10.213.9.22"
    secret, postgres_uploads = unwrap_secret(by_name["postgres-1"].inputs["uploads"])
    assert secret, "uploads holding passwords must be Pulumi secrets"
    uploads = {u["file"]: u["content"] for u in postgres_uploads}
    assert "name: postgres-1" in uploads["/etc/patroni/conf.d/10-patroni.yml"]
    assert '"repl-pw"' in uploads["/etc/patroni/conf.d/20-secrets.yml"]
    assert "SCRAM-SHA-256$4096:" in uploads["/etc/patroni/bootstrap.sql"]
    assert "app-pw" not in uploads["/etc/patroni/bootstrap.sql"]
    secret, pgbouncer_uploads = unwrap_secret(by_name["pgbouncer-1"].inputs["uploads"])
    assert secret and '"pgbouncer_auth" "auth-pw"' in pgbouncer_uploads[1]["content"]
    assert by_name["haproxy-2"].inputs["networksAdvanced"][0]["ipv4Address"] == "10.213.9.6"
    haproxy = [{u["file"]: u["content"] for u in by_name[n].inputs["uploads"]} for n in ("haproxy-1", "haproxy-2")]
    assert "check addr 10.213.9.23 port 8008" in haproxy[0]["/etc/haproxy/haproxy.cfg"]
    assert haproxy[0] == haproxy[1], "every instance routes alike"


def test_no_password_reaches_a_container_environment_or_command():
    resources, _ = deploy()
    for c in of_type(resources, "docker:index/container:Container"):
        visible = repr(c.inputs.get("envs", [])) + repr(c.inputs.get("command", [])) + repr(c.inputs.get("labels"))
        for password in PASSWORDS.__dict__.values():
            assert password not in visible


def test_the_failover_watcher_reads_the_engine_through_the_proxy_only_and_can_be_switched_off():
    resources, parents = deploy()
    containers = {c.name: c for c in of_type(resources, "docker:index/container:Container")}
    watcher, proxy = containers["failover-watcher"], containers["docker-proxy"]
    assert watcher.inputs["volumes"] == [{"volumeName": "pgha-t1-docker-proxy", "containerPath": "/run/docker-proxy"}]
    assert watcher.inputs["user"] == "watcher" and watcher.inputs["capabilities"] == {"drops": ["ALL"]}
    assert watcher.inputs["command"][:4] == ["--stack", "t1", "--prefix", "/pgha/pgha-t1"]
    assert watcher.inputs["command"][-2:] == ["--docker", "unix:///run/docker-proxy/docker.sock"]
    assert "ports" not in watcher.inputs
    # The one container with the engine's socket: the proxy, unprivileged, in the socket's group.
    holders = [c.name for c in containers.values() if "/var/run/docker.sock" in repr(c.inputs.get("volumes"))]
    assert sorted(holders) == ["docker-proxy", "pgbackrest"]
    assert proxy.inputs["capabilities"] == {"drops": ["ALL"]} and proxy.inputs["groupAdds"] == ["0"]
    assert parents[("pgha:failover:DockerProxy", "docker-proxy")] == "failover"
    resources, _ = deploy(fastFailover="false")
    assert not {"failover-watcher", "docker-proxy"} & {r.name for r in resources}


def test_patroni_dynamic_settings_are_a_resource_applied_through_the_api():
    resources, parents = deploy(synchronousMode="on", ttl=30)
    (config,) = [r for r in resources if r.name == "dynamic-config"]
    assert parents[(config.typ, "dynamic-config")] == "patroni"
    assert {k: config.inputs["config"][k] for k in ("synchronous_mode", "ttl", "loop_wait", "retry_timeout")} == {
        "synchronous_mode": True,
        "ttl": 30,
        "loop_wait": 2,
        "retry_timeout": 4,
    }
    assert config.inputs["api_urls"] == ["http://127.0.0.1:8008", "http://127.0.0.1:8009", "http://127.0.0.1:8010"]
    secret, password = unwrap_secret(config.inputs["password"])
    assert secret and password == "api-pw"


def test_changing_the_haproxy_count_leaves_the_other_instances_as_they_are():
    def instances(count):
        resources, _ = deploy(haproxyNodes=count)
        return {
            c.name: c.inputs
            for c in of_type(resources, "docker:index/container:Container")
            if labels(c)["pgha.role"] == "haproxy"
        }

    two, three = instances(2), instances(3)
    assert sorted(three) == ["haproxy-1", "haproxy-2", "haproxy-3"]
    assert two == {name: three[name] for name in ("haproxy-1", "haproxy-2")}


def test_postgres_members_are_replaced_replicas_first_and_the_leader_last_after_a_handover():
    monitors: list[RecordingMonitor] = []
    deploy(leader="postgres-1", monitor_out=monitors)
    deps = monitors[0].dependencies
    postgres = lambda name: {d for d in deps[name] if d.startswith(("postgres-", "handover")) and "-data" not in d}  # noqa: E731
    assert postgres("postgres-2") == set()
    assert postgres("postgres-3") == {"postgres-2-back"}
    assert postgres("handover") == {"postgres-3-back"}
    assert postgres("postgres-1") == {"handover"}
    assert deps["postgres-1-back"] == {"postgres-1"}


def test_a_new_stack_chains_its_members_by_index():
    monitors: list[RecordingMonitor] = []
    deploy(monitor_out=monitors)
    deps = monitors[0].dependencies
    assert "postgres-1-back" in deps["postgres-2"] and "handover" in deps["postgres-3"]


def test_every_member_attaches_through_the_release_which_pulumi_deletes_before_the_kept_network():
    monitors: list[RecordingMonitor] = []
    resources, _ = deploy(monitor_out=monitors)
    monitor = monitors[0]
    network = monitor.requests["network"]
    assert network.retainOnDelete and not network.importId
    assert "network" in monitor.dependencies["network-release"]
    containers = of_type(resources, "docker:index/container:Container")
    assert containers and all("network-release" in monitor.dependencies[c.name] for c in containers)


def test_the_stack_network_already_on_the_engine_is_adopted():
    monitors: list[RecordingMonitor] = []
    deploy(monitor_out=monitors, network_id="0123abcd")
    assert monitors[0].requests["network"].importId == "0123abcd"


@pytest.mark.parametrize("raw", [{}, {"metrics": "false", "backups": "false", "fastFailover": "false"}])
def test_destroy_stops_every_container_in_turn_before_pulumi_removes_them(raw):
    monitors: list[RecordingMonitor] = []
    resources, _ = deploy(monitor_out=monitors, **raw)
    containers = {c.name for c in of_type(resources, "docker:index/container:Container")}
    assert containers <= monitors[0].dependencies["stop-in-turn"]


@pytest.mark.parametrize("backups, ignored", [("true", True), ("false", False)])
def test_the_restore_file_is_ignored_only_where_there_is_one(backups, ignored):
    monitors: list[RecordingMonitor] = []
    deploy(monitor_out=monitors, backups=backups)
    ignore = monitors[0].requests["postgres-1"].ignoreChanges
    assert ("uploads[5].content" in ignore) == ignored and "uploads[1].content" in ignore
