"""PostgreSQL parameters checked by PostgreSQL itself, before any container is touched.

`postgres -C name -c name=value` parses the value as the server would, with the server's own messages
(unknown name, bad value, out of range). It runs in a throwaway, network-less container of the very image
the stack's nodes run, which is built first when missing.
"""

from __future__ import annotations

import subprocess

from pgha.model.images import check_image

# Patroni sets these itself; a stack must not override them.
PATRONI_MANAGED = frozenset(
    {
        "listen_addresses",
        "port",
        "cluster_name",
        "data_directory",
        "hba_file",
        "ident_file",
        "config_file",
        "hot_standby",
        "wal_level",
        "primary_conninfo",
        "primary_slot_name",
        "synchronous_standby_names",
        "recovery_target",
        "recovery_target_lsn",
        "recovery_target_name",
        "recovery_target_time",
        "recovery_target_xid",
        "restore_command",
        "unix_socket_directories",
    }
)
# pgha sets these: WAL archiving to the stack's pgBackRest repository.
PGHA_MANAGED = {
    "archive_mode": "WAL archiving to pgBackRest",
    "archive_command": "WAL archiving to pgBackRest",
    "archive_timeout": "pgha:archiveTimeout",
}
CHECK_EACH = r"""
mkdir -p /tmp/d && touch /tmp/d/postgresql.conf
while IFS="$(printf '\t')" read -r name value; do
  if ! out=$(postgres -D /tmp/d -c "$name=$value" -C "$name" 2>&1); then
    printf '%s\t%s\n' "$name" "$(printf '%s' "$out" | grep -E 'FATAL|HINT' | sed 's/^.*\(FATAL\|HINT\): *//' | tr '\n' ' ')"
  fi
done
"""


def problems(parameters: dict[str, str]) -> list[str]:
    """One line per parameter PostgreSQL 17 (or Patroni) would not take."""
    found = [
        f"pgha:postgresParameters: {name} is set by Patroni itself and cannot be overridden"
        for name in sorted(parameters)
        if name in PATRONI_MANAGED
    ]
    found += [
        f"pgha:postgresParameters: {name} is set by pgha ({PGHA_MANAGED[name]})"
        for name in sorted(parameters)
        if name in PGHA_MANAGED
    ]
    rest = {k: v for k, v in parameters.items() if k not in PATRONI_MANAGED and k not in PGHA_MANAGED}
    if not rest:
        return found
    lines = "".join(f"{name}\t{value}\n" for name, value in sorted(rest.items()))
    result = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "--entrypoint",
            "sh",
            check_image("patroni"),
            "-c",
            CHECK_EACH,
        ],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
    )
    for line in result.stdout.splitlines():
        name, _, message = line.partition("\t")
        found.append(f"pgha:postgresParameters: {name}={rest[name]!r} refused by PostgreSQL 17: {message.strip()}")
    return found
