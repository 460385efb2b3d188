"""pgha:engine swarm: its settings checked at preview, where each member goes, HAProxy's configuration without fixed
addresses, and the program's shape under Pulumi's mocks (services, not containers; secrets, not files)."""

import json
from collections import Counter

import pytest
import yaml

from pgha.model import render
from pgha.model.layout import Layout
from pgha.model.settings import SettingsError, parse
from tests.unit.test_program import PASSWORDS, deploy, labels, of_type, unwrap_secret

NODES = ["tcp://10.214.9.11:2375", "tcp://10.214.9.12:2375", "ssh://admin@db3.example"]
SWARM = {"engine": "swarm", "swarmNodes": json.dumps(NODES), "metrics": "false", "backups": "false"}


def swarm_layout(**raw) -> Layout:
    return Layout(parse("s1", {"subnet": "10.213.9.0/24", **SWARM, **{k: str(v) for k, v in raw.items()}}))


def problems(**raw) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        parse("s1", {"subnet": "10.213.9.0/24", **raw})
    return caught.value.problems


def test_the_nodes_come_as_a_list_or_one_comma_separated_string():
    assert swarm_layout().settings.swarm_nodes == tuple(NODES)
    assert swarm_layout(swarmNodes=",".join(NODES)).settings.swarm_nodes == tuple(NODES)


def test_fewer_nodes_than_members_are_refused_naming_each_count():
    found = problems(**{**SWARM, "swarmNodes": json.dumps(NODES[:2]), "postgresNodes": "3", "etcdNodes": "3"})
    assert found == [
        "pgha:etcdNodes: 3 members need 3 Swarm nodes, one each; pgha:swarmNodes lists 2",
        "pgha:postgresNodes: 3 members need 3 Swarm nodes, one each; pgha:swarmNodes lists 2",
    ]


def test_a_swarm_stack_needs_its_nodes_and_refuses_what_it_cannot_place():
    found = problems(engine="swarm")
    assert found[0].startswith("pgha:swarmNodes: missing;")
    found = problems(engine="swarm", swarmNodes=json.dumps(NODES))
    assert [p.split(":")[1] for p in found] == ["metrics", "backups"]
    assert "set pgha:metrics false with pgha:engine swarm" in found[0]


def test_node_urls_are_tcp_or_ssh_and_swarm_keys_need_the_swarm_engine():
    assert problems(**{**SWARM, "swarmNodes": '["unix:///var/run/docker.sock"]'})[0].startswith("pgha:swarmNodes:")
    found = problems(swarmNodes=json.dumps(NODES), swarmLab="lab")
    assert found == [
        "pgha:swarmNodes: set, but pgha:engine is docker; set pgha:engine swarm",
        "pgha:swarmLab: set, but pgha:engine is docker; set pgha:engine swarm",
    ]


def test_each_postgres_member_and_its_pgbouncer_share_a_node_and_etcd_members_take_one_each():
    lay = swarm_layout()
    assert [lay.node_of(m) for m in lay.postgres()] == [1, 2, 3]
    assert [lay.node_of(m) for m in lay.pgbouncer()] == [1, 2, 3]
    assert [lay.node_of(m) for m in lay.etcd()] == [1, 2, 3]
    assert [lay.node_of(m) for m in lay.haproxy()] == [3, 2]  # apart from postgres-1, the first leader
    assert lay.node_of(lay.failover_watcher()) == 0  # every node


def test_members_are_reached_by_name_and_published_ports_on_their_node():
    lay = swarm_layout(rwPort=6000, patroniPort=9008)
    assert [m.address for m in lay.postgres()] == ["postgres-1", "postgres-2", "postgres-3"]
    assert lay.client_endpoints("rwPort") == [("db3.example", 6000), ("10.214.9.12", 6010)]
    assert lay.patroni_api_urls() == ["http://10.214.9.11:9008", "http://10.214.9.12:9009", "http://db3.example:9010"]


def test_haproxy_on_a_swarm_tracks_patroni_checks_by_name_and_asks_swarm_dns_again():
    cfg = render.haproxy_config(swarm_layout())
    assert "check addr" not in cfg and "10.213." not in cfg
    assert "resolvers swarm\n    nameserver swarm 127.0.0.11:53" in cfg
    assert "server postgres-2 pgbouncer-2:6433 track primary_checks/postgres-2 resolvers swarm init-addr none" in cfg
    assert "server postgres-2 pgbouncer-2:6432 track replica_checks/postgres-2" in cfg
    assert "backend primary_checks\n    option httpchk OPTIONS /primary" in cfg
    assert "server postgres-9 postgres-9:8008 check resolvers swarm" in cfg  # every slot, as on one engine


def test_haproxy_on_one_engine_keeps_its_fixed_addresses_and_no_resolver():
    cfg = render.haproxy_config(Layout(parse("d1", {"subnet": "10.213.9.0/24"})))
    assert "resolvers" not in cfg and "track" not in cfg
    assert "check addr 10.213.9.21 port 8008" in cfg


def test_without_backups_patroni_archives_nothing_and_makes_replicas_by_base_backup():
    off = yaml.safe_load(render.patroni_backups_off())["postgresql"]
    assert off["parameters"] == {"archive_mode": "off", "archive_command": None}
    assert off["create_replica_methods"] == ["basebackup"]
    assert off["recovery_conf"] is None and off["pgbackrest"] is None  # null: removed from patroni.yml's


def test_the_program_declares_pinned_services_and_a_global_watcher_instead_of_containers():
    resources, _ = deploy(**SWARM)
    assert not of_type(resources, "docker:index/container:Container")
    services = {s.name: s for s in of_type(resources, "docker:index/service:Service")}
    roles = Counter(labels(s)["pgha.role"] for s in services.values())
    assert roles == {"etcd": 3, "postgres": 3, "pgbouncer": 3, "haproxy": 2, "failover-watcher": 1}
    placement = {n: s.inputs["taskSpec"].get("placement", {}).get("constraints") for n, s in services.items()}
    assert placement["postgres-2"] == ["node.labels.pgha.node==2"]
    assert placement["haproxy-1"] == ["node.labels.pgha.node==3"]
    assert services["failover-watcher"].inputs["mode"] == {"global": True}
    assert services["postgres-1"].inputs["mode"] == {"replicated": {"replicas": 1}}
    assert services["postgres-1"].inputs["endpointSpec"] == {
        "mode": "dnsrr",
        "ports": [{"targetPort": 8008, "publishedPort": 8008, "publishMode": "host"}],
    }
    (network,) = of_type(resources, "docker:index/network:Network")
    assert network.inputs["driver"] == "overlay" and network.inputs["attachable"] is True
    assert "pgha:pgbackrest:BackupRepository" not in {r.typ for r in resources}


def test_each_member_s_volume_is_made_on_its_node_and_its_image_copied_there():
    resources, _ = deploy(**SWARM)
    volumes = {v.name for v in of_type(resources, "docker:index/volume:Volume")}
    assert volumes == {
        "etcd-1-data",
        "etcd-2-data",
        "etcd-3-data",
        "postgres-1-data",
        "postgres-2-data",
        "postgres-3-data",
    }
    providers = {r.name for r in resources if r.typ == "pulumi:providers:docker"}
    assert providers == {"swarm-node-1", "swarm-node-2", "swarm-node-3"}
    copies = {r.name for r in resources if r.typ == "pulumi-python:dynamic:Resource" and "-image-node-" in r.name}
    assert {"postgres-image-node-3", "haproxy-image-node-3", "failover-watcher-image-node-1"} <= copies
    assert "haproxy-image-node-1" not in copies  # no HAProxy instance on node 1


def test_password_files_are_swarm_secrets_and_configuration_swarm_configs():
    resources, _ = deploy(**SWARM)
    secrets = {s.name: s for s in of_type(resources, "docker:index/secret:Secret")}
    assert {"postgres-1-20-secrets-yml", "postgres-1-bootstrap-sql", "pgbouncer-1-auth-user-txt"} <= set(secrets)
    assert unwrap_secret(secrets["postgres-1-20-secrets-yml"].inputs["data"])[0], "a Pulumi secret"
    configs = of_type(resources, "docker:index/serviceConfig:ServiceConfig")
    for config in configs:
        for password in PASSWORDS.__dict__.values():
            assert password not in repr(config.inputs)
    assert any(c.name == "postgres-1-12-backups-off-yml" for c in configs)
