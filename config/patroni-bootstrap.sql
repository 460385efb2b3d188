-- Run by Patroni's post_bootstrap on a new cluster; rendered by pgha/model/render.py. A cluster restored from
-- another stack's backups already has these objects: every statement creates what is missing and sets the rest,
-- so the restored roles get this stack's verifiers. Roles get SCRAM verifiers, never plain passwords.
SELECT 'CREATE ROLE ${app_user}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${app_user}') \gexec
ALTER ROLE ${app_user} LOGIN PASSWORD '${app_verifier}';
SELECT 'CREATE DATABASE ${app_database} OWNER ${app_user}'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${app_database}') \gexec

-- PgBouncer's auth_query: looks up a non-superuser's verifier; nothing else is granted.
SELECT 'CREATE ROLE pgbouncer_auth' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgbouncer_auth') \gexec
ALTER ROLE pgbouncer_auth LOGIN PASSWORD '${auth_verifier}';
CREATE SCHEMA IF NOT EXISTS pgbouncer;
CREATE OR REPLACE FUNCTION pgbouncer.get_auth(p_usename text, OUT usename name, OUT passwd text)
    RETURNS SETOF record LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS
$$$$ SELECT usename, passwd FROM pg_shadow WHERE usename = p_usename AND NOT usesuper $$$$;
REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC;
GRANT USAGE ON SCHEMA pgbouncer TO pgbouncer_auth;
GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO pgbouncer_auth;

-- The exporters' role (docker/postgres-exporter): PostgreSQL's own pg_monitor, nothing more.
${monitor_role}