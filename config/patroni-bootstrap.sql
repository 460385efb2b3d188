-- Run once by Patroni's post_bootstrap on a new cluster; rendered by pgha/model/render.py.
-- Roles get SCRAM verifiers, never plain passwords.
CREATE ROLE ${app_user} LOGIN PASSWORD '${app_verifier}';
CREATE DATABASE ${app_database} OWNER ${app_user};

-- PgBouncer's auth_query: looks up a non-superuser's verifier; nothing else is granted.
CREATE ROLE pgbouncer_auth LOGIN PASSWORD '${auth_verifier}';
CREATE SCHEMA pgbouncer;
CREATE FUNCTION pgbouncer.get_auth(p_usename text, OUT usename name, OUT passwd text)
    RETURNS SETOF record LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS
$$$$ SELECT usename, passwd FROM pg_shadow WHERE usename = p_usename AND NOT usesuper $$$$;
REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC;
GRANT USAGE ON SCHEMA pgbouncer TO pgbouncer_auth;
GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO pgbouncer_auth;
