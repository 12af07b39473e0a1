#!/bin/sh
# Creates or upgrades Temporal's two PostgreSQL databases (persistence and visibility) to the
# schema shipped in this admin-tools image. Run it with the image matching the server's version
# before starting a new server version: that is how Temporal upgrades are applied.
set -eu

: "${SQL_PASSWORD:?set SQL_PASSWORD (the PostgreSQL password)}"
SQL_HOST="${SQL_HOST:-postgresql}"
SQL_PORT="${SQL_PORT:-5432}"
SQL_USER="${SQL_USER:-temporal}"
SCHEMA=/etc/temporal/schema/postgresql/v12

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$SQL_HOST" -p "$SQL_PORT" -u "$SQL_USER" "$@"
}

for db in temporal:temporal temporal_visibility:visibility; do
  name=${db%%:*}
  dir=${db#*:}
  # "create" fails when the database exists; setup-schema -v 0.0 and update-schema are
  # idempotent and fail loudly on a real connection or permission problem.
  sql --db "$name" create || echo "database $name exists"
  sql --db "$name" setup-schema -v 0.0
  sql --db "$name" update-schema -d "$SCHEMA/$dir/versioned"
done
echo "PostgreSQL schemas for Temporal are current"
