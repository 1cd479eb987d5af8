#!/bin/sh
# One-shot (temporalio/admin-tools): once the cluster answers, make sure the namespace
# exists and carries the case search attributes. Safe to run on every `up`. The worker
# registers the same attributes on start; doing it here as well means the API can filter
# by them before any worker has run. The temporal CLI reads TEMPORAL_ADDRESS itself.
set -eu

: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}" "${CASE_SEARCH_ATTRIBUTES:?}"
attempts=${SETUP_ATTEMPTS:-60}

retry() {
  n=1
  until "$@"; do
    if [ "$n" -ge "$attempts" ]; then
      echo "temporal-setup: gave up after $attempts tries: $*" >&2
      return 1
    fi
    n=$((n + 1))
    sleep 2
  done
}

cluster_healthy() {
  temporal operator cluster health >/dev/null 2>&1
}

ensure_namespace() {
  temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1 ||
    temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" \
      --retention "${TEMPORAL_NAMESPACE_RETENTION:-720h}"
}

# A freshly created namespace takes a few seconds to reach every service, so this is
# retried too; attributes already present are skipped rather than re-added.
ensure_search_attributes() {
  existing=$(temporal operator search-attribute list --namespace "$TEMPORAL_NAMESPACE") || return 1
  set --
  for pair in $CASE_SEARCH_ATTRIBUTES; do
    name=${pair%%=*}
    if ! printf '%s\n' "$existing" | grep -qw "$name"; then
      set -- "$@" --name "$name" --type "${pair#*=}"
    fi
  done
  [ "$#" -eq 0 ] || temporal operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" "$@"
}

retry cluster_healthy
retry ensure_namespace
retry ensure_search_attributes
echo "temporal-setup: namespace $TEMPORAL_NAMESPACE ready with $CASE_SEARCH_ATTRIBUTES"
