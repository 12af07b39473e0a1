#!/bin/sh
# Creates the PostgreSQL role and database of slawatch's send ledger (the idempotency ledger
# every worker shares), or sets the role's password again (rotation). Idempotent: run it on
# every start. The workers create the ledger's table themselves.
set -eu

: "${LEDGER_PASSWORD:?set LEDGER_PASSWORD (the ledger role's password)}"
LEDGER_USER="${LEDGER_USER:-slawatch}"
LEDGER_DB="${LEDGER_DB:-slawatch_ledger}"
# The server and an admin role to connect as (PGPASSWORD comes from the environment).
export PGHOST="${PGHOST:-postgresql}" PGUSER="${PGUSER:-temporal}" PGDATABASE="${PGDATABASE:-postgres}"

# Names and the password go in as psql variables (:'x' quotes a literal, format's %I/%L quote
# identifiers and literals), never spliced into SQL text by the shell.
psql -X -q -v ON_ERROR_STOP=1 -v user="$LEDGER_USER" -v db="$LEDGER_DB" -v pw="$LEDGER_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L',
              :'user', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SQL
echo "send ledger: database $LEDGER_DB, role $LEDGER_USER ready"
