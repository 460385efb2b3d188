from pgha.ops.status import Status, problems, table


def healthy():
    return Status(
        members=[
            {"name": "postgres-1", "role": "leader", "state": "running", "timeline": 2},
            {"name": "postgres-2", "role": "quorum_standby", "state": "streaming", "timeline": 2, "lag": 0},
            {"name": "postgres-3", "role": "replica", "state": "streaming", "timeline": 2, "lag": 0},
        ],
        etcd={"etcd-1": "healthy", "etcd-2": "healthy", "etcd-3": "healthy"},
        containers=dict.fromkeys(
            (
                "etcd-1",
                "etcd-2",
                "etcd-3",
                "postgres-1",
                "postgres-2",
                "postgres-3",
                "pgbouncer-1",
                "pgbouncer-2",
                "pgbouncer-3",
                "haproxy-1",
                "haproxy-2",
            ),
            "running",
        ),
        backends={
            instance: {
                "read_write": {"postgres-1": "UP", "postgres-2": "DOWN", "postgres-3": "DOWN"},
                "read_only": {"postgres-1": "DOWN", "postgres-2": "UP", "postgres-3": "UP"},
            }
            for instance in ("haproxy-1", "haproxy-2")
        },
    )


def test_a_whole_cluster_is_healthy():
    assert problems(healthy()) == []


def test_each_fault_is_named():
    s = healthy()
    s.members[2].update(state="starting", timeline=1)
    s.containers["pgbouncer-2"] = "exited"
    s.etcd["etcd-3"] = "context deadline exceeded"
    s.backends["haproxy-1"]["read_only"]["postgres-3"] = "DOWN"
    assert problems(s) == [
        "container pgbouncer-2 is exited",
        "etcd etcd-3: context deadline exceeded",
        "postgres-3 is starting, not streaming",
        "members are on different timelines",
        "haproxy-1 read_only has 1 servers UP, not 2",
    ]


def test_each_haproxy_instance_is_checked_on_its_own():
    s = healthy()
    s.backends["haproxy-2"]["read_write"]["postgres-1"] = "DOWN"
    s.errors.append("haproxy-3 stats: ConnectionError")
    assert problems(s) == ["haproxy-3 stats: ConnectionError", "haproxy-2 read_write has 0 servers UP, not 1"]


def test_two_leaders_or_none_are_problems():
    s = healthy()
    s.members[1]["role"] = "leader"
    assert "2 Patroni leaders" in problems(s)
    s.members[0]["role"] = s.members[1]["role"] = "replica"
    assert "0 Patroni leaders" in problems(s)


def test_a_missing_member_and_unreachable_apis_are_problems():
    s = healthy()
    s.members.pop()
    s.errors.append("no Patroni REST API answered")
    assert problems(s)[:2] == ["no Patroni REST API answered", "postgres-3 is not a Patroni member"]


def test_table_lists_members_with_each_haproxy_instance_s_view():
    s = healthy()
    s.backends["haproxy-2"]["read_write"]["postgres-1"] = "DOWN"
    lines = table(s).splitlines()
    assert lines[0].split() == ["member", "role", "state", "timeline", "lag", "rw/ro", "by", "haproxy-1,", "haproxy-2"]
    assert lines[1].split() == ["postgres-1", "leader", "running", "2", "0", "UP/DOWN", "DOWN/DOWN"]
    assert any(line.startswith("etcd-3") and "healthy" in line for line in lines)


def test_synchronous_modes_want_a_synchronous_standby():
    s = healthy()
    s.synchronous_mode = "quorum"
    assert problems(s) == []
    s.members[1]["role"] = "replica"
    assert problems(s) == ["no synchronous standby yet"]
    s.synchronous_mode = False
    assert problems(s) == []


def test_alerts_are_asked_for_the_view_only_and_listed_in_the_table(monkeypatch):
    from pgha.clients import prometheus as metrics
    from pgha.ops import status
    from pgha.ops.target import Target

    def stack(prometheus_url):  # all with_alerts asks of a stack is its Prometheus
        return Target("t", [], [], [], [], "app", "app", "app-pw", "api-pw", prometheus_url=prometheus_url)

    monkeypatch.setattr(metrics, "firing", lambda url: ["PghaPostgresDown{postgres-2}"])
    shown = status.with_alerts(healthy(), stack("http://prometheus"))
    assert ["PghaPostgresDown{postgres-2}", "alert", "firing"] in [line.split() for line in table(shown).splitlines()]
    assert problems(shown) == []
    assert status.with_alerts(healthy(), stack(None)).alerts == []
