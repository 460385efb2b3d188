"""A short soak on the session's stack (`make soak` runs 30 minutes): random faults, the cluster whole between them,
nothing acknowledged lost, no split brain, and the cluster whole at the end."""

import json
import random

from pgha.ops import target
from pgha.ops.drills import drill, soak

DURATION_S = 150  # a few faults: a fault and its recovery take 10 to 60 s here


def test_a_short_soak_loses_nothing_and_leaves_the_cluster_whole(deployed, tmp_path, capsys):
    t = target.from_pulumi(deployed[0])
    seed = random.randrange(2**31)
    report = json.loads(soak.run(t, DURATION_S, seed, 20, tmp_path).read_text())
    with capsys.disabled():
        print("\n" + soak.table(report), flush=True)
    found = report["summary"]
    assert found["faults"] >= 2, f"seed {seed}: the soak ran {found['faults']} faults"
    assert found["lost_acked"] == 0, f"seed {seed}: {report['trials']}"
    assert found["split_brains"] == 0, f"seed {seed}: {report['trials']}"
    assert found["not_recovered"] == [], f"seed {seed}"
    assert found["not_linearizable"] == [], f"seed {seed}: {report['trials']}"
    assert found["operations_checked"] >= 200 * found["faults"], f"seed {seed}"
    drill.wait_healthy(t, 60)
