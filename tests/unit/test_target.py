from pgha.ops.target import from_outputs

OUTPUTS = {
    "rwEndpoint": "127.0.0.1:5000",
    "roEndpoint": "127.0.0.1:5001",
    "statsUrl": "http://127.0.0.1:7000/",
    "rwEndpoints": ["127.0.0.1:5000", "127.0.0.1:5010"],
    "roEndpoints": ["127.0.0.1:5001", "127.0.0.1:5011"],
    "statsUrls": ["http://127.0.0.1:7000/", "http://127.0.0.1:7010/"],
    "patroniApis": ["http://127.0.0.1:8008"],
    "database": "app",
    "user": "app",
    "password": "pw",
    "patroniApiPassword": "api-pw",
}


def test_a_target_knows_every_haproxy_instance_and_haproxy_1_first():
    t = from_outputs("dev", OUTPUTS)
    assert t.rw_endpoints == [("127.0.0.1", 5000), ("127.0.0.1", 5010)]
    assert t.ro_endpoints == [("127.0.0.1", 5001), ("127.0.0.1", 5011)]
    assert (t.rw, t.ro, t.stats_url) == (("127.0.0.1", 5000), ("127.0.0.1", 5001), "http://127.0.0.1:7000/")
    assert t.stats_urls == ["http://127.0.0.1:7000/", "http://127.0.0.1:7010/"]


def test_a_stack_deployed_before_the_pair_is_its_single_instance():
    single = {k: v for k, v in OUTPUTS.items() if k not in ("rwEndpoints", "roEndpoints", "statsUrls")}
    t = from_outputs("dev", single)
    assert (t.rw_endpoints, t.ro_endpoints, t.stats_urls) == (
        [("127.0.0.1", 5000)],
        [("127.0.0.1", 5001)],
        ["http://127.0.0.1:7000/"],
    )


def test_connection_params_are_a_libpq_multi_host_list_in_order():
    t = from_outputs("dev", OUTPUTS)
    assert t.connection_params(t.rw_endpoints) == {
        "host": "127.0.0.1,127.0.0.1",
        "port": "5000,5010",
        "dbname": "app",
        "user": "app",
        "password": "pw",
        "keepalives_idle": 2,
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "tcp_user_timeout": 5000,
    }
