from components.patroni_config import _holds, _took, _with_removals


def wanted(**parameters):
    return {"ttl": 20, "synchronous_mode": "quorum", "postgresql": {"parameters": parameters}}


def test_a_parameter_dropped_from_the_stack_is_sent_as_null():
    patch = _with_removals(wanted(work_mem="64MB"), wanted(work_mem="32MB", jit="off"))
    assert patch["postgresql"]["parameters"] == {"work_mem": "64MB", "jit": None}
    assert _with_removals(wanted(), None)["postgresql"]["parameters"] == {}


def test_patroni_took_the_change_only_when_every_value_matches():
    current = {"ttl": 20.0, "synchronous_mode": "quorum", "postgresql": {"parameters": {"work_mem": "64MB", "x": 1}}}
    assert _took(current, wanted(work_mem="64MB"))
    assert not _took(current, wanted(work_mem="128MB"))
    assert not _took(current | {"ttl": 30}, wanted(work_mem="64MB"))


def test_a_config_that_already_holds_the_patch_needs_no_patch():
    current = wanted(work_mem="64MB") | {"postgresql": {"parameters": {"work_mem": "64MB"}}}
    assert _holds(current, _with_removals(wanted(work_mem="64MB"), None))
    assert not _holds(current, _with_removals(wanted(work_mem="128MB"), None))
    with_jit = {**current, "postgresql": {"parameters": {"work_mem": "64MB", "jit": "off"}}}
    assert not _holds(with_jit, _with_removals(wanted(work_mem="64MB"), wanted(work_mem="64MB", jit="off")))
