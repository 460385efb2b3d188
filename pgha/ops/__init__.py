"""pgha.ops: operations run against a live, deployed stack, in rooms by concern: drills (faults and their reports),
bench, experiments, backups (verbs and recovery drills), lab (the Swarm lab); target, status and dashboard are
what every room reads a live stack with."""
