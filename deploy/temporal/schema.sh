#!/bin/sh
# One-shot (temporalio/admin-tools): bring Temporal's two PostgreSQL databases to the schema
# version this server release expects. Safe to run on every `up`: setup-schema leaves a
# newer schema alone and update-schema applies only the missing versions. The databases
# themselves are created by deploy/postgres/initdb/10-databases.sh.
set -eu

: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
schema_root=/etc/temporal/schema/postgresql/v12

migrate() {
  database=$1
  schema=$2
  echo "temporal-schema: $database"
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" \
    -u "$POSTGRES_USER" --db "$database" setup-schema -v 0.0
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" \
    -u "$POSTGRES_USER" --db "$database" update-schema -d "$schema_root/$schema/versioned"
}

migrate "${DBNAME:-temporal}" temporal
migrate "${VISIBILITY_DBNAME:-temporal_visibility}" visibility
echo "temporal-schema: done"
