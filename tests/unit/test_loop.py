from pgha.ops.bench import bench_report, loop


def pre(urn: str) -> dict:
    return {"resourcePreEvent": {"metadata": {"urn": urn, "op": "create", "type": "docker:index/container:Container"}}}


def outputs(urn: str, op: str = "create", type_: str = "docker:index/container:Container") -> dict:
    return {"resOutputsEvent": {"metadata": {"urn": urn, "op": op, "type": type_}}}


URN = "urn:pulumi:s::pgha::pgha:cluster:PostgresCluster$docker:index/container:Container::"


def test_steps_last_from_their_pre_event_to_their_outputs_and_skip_components_and_unchanged():
    events = [
        (0.5, {"preludeEvent": {}}),
        (1.0, pre(URN + "etcd-1")),
        (1.0, pre(URN + "postgres-1")),
        (2.5, outputs(URN + "etcd-1")),
        (4.0, outputs(URN + "postgres-1")),
        (4.1, outputs("urn:pulumi:s::pgha::pgha:cluster:PostgresCluster::pgha", type_="pgha:cluster:PostgresCluster")),
        (4.2, outputs(URN + "haproxy", op="same")),
    ]
    timing = loop.timing("up", 5.0, events)
    assert (timing.seconds, timing.to_first_event_s, timing.changes) == (5.0, 0.5, 2)
    assert timing.slowest == [("postgres-1", "create", 3.0), ("etcd-1", "create", 1.5)]


def test_messages_keep_what_the_engine_prints_not_debug_or_ephemeral_lines():
    events: list[dict] = [
        {
            "diagnosticEvent": {
                "severity": "warning",
                "message": "<{%reset%}>pgha:bindAddress: exposed\nmore<{%reset%}>",
            }
        },
        {"diagnosticEvent": {"severity": "debug", "message": "noise"}},
        {"diagnosticEvent": {"severity": "info", "message": "Building image", "ephemeral": True}},
    ]
    assert loop.messages(events) == ["warning: pgha:bindAddress: exposed"]


def _round(up: float, healthy: float, preview: float, destroy: float, changes: int = 0) -> dict:
    def command(name, s, c=0):
        return {
            "command": name,
            "seconds": s,
            "to_first_event_s": 1.0,
            "changes": c,
            "slowest": [["network", "create", 2.2]],
            "messages": [],
        }

    return {
        "up": command("up", up, 39),
        "healthy_after_up_s": healthy,
        "up_to_healthy_s": up + healthy,
        "preview": command("preview", preview, changes),
        "destroy": command("destroy", destroy, 39),
    }


def test_the_loop_report_gives_medians_and_says_whether_the_preview_was_quiet():
    lines = bench_report.loop_lines({"loop": [_round(12, 5, 4, 8), _round(14, 4, 5, 9), _round(11, 6, 3, 7)]})
    assert lines[0].startswith("experiment loop (3 throwaway stacks of the default shape, medians): up to healthy 17")
    assert "no-change preview 4 s, destroy 8 s" in lines[0]
    assert "slowest: network create 2.2 s" in lines[1]
    assert lines[-1] == "- no-change preview: quiet, and no resource to change"
    noisy = bench_report.loop_lines({"loop": [_round(12, 5, 4, 8, changes=2)]})
    assert noisy[-1].startswith("- no-change preview: changes [2]")
    assert bench_report.loop_lines({}) == ["experiment loop: not timed"]
