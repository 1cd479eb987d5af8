#!/usr/bin/env bash
# Runs once, when the postgres container starts on an empty data volume: one role per
# tenant of this server, each owning its own databases.
#   temporal -> temporal (persistence) and temporal_visibility (visibility, search attributes)
#   tierline -> tierline (the read model behind the API)
# Passwords come from the service environment; psql quotes them (:'var'), so any
# character is safe here (the DATABASE_URL still needs URL-encoding of special ones).
# Changing a password later means ALTER ROLE by hand: this script never runs again.
set -euo pipefail

psql --no-psqlrc -v ON_ERROR_STOP=1 \
  --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
  -v temporal_password="${TEMPORAL_DB_PASSWORD:?}" \
  -v tierline_password="${TIERLINE_DB_PASSWORD:?}" <<'SQL'
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;

CREATE ROLE tierline LOGIN PASSWORD :'tierline_password';
CREATE DATABASE tierline OWNER tierline;
SQL
