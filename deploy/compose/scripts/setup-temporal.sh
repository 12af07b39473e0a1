#!/bin/sh
# Registers what slawatch needs in its Temporal namespace: the namespace itself (self-hosted
# only; Temporal Cloud namespaces are made in the Cloud) and the custom search attributes the
# ticket workflows upsert. Safe to run again: only what is missing is created.
# Reads the Temporal CLI's own variables: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and, for TLS or
# Temporal Cloud, TEMPORAL_API_KEY or TEMPORAL_TLS_CLIENT_CERT_PATH/TEMPORAL_TLS_CLIENT_KEY_PATH.
set -eu

: "${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS to the Temporal frontend host:port}"
: "${TEMPORAL_NAMESPACE:?set TEMPORAL_NAMESPACE to slawatch namespace}"
CREATE_NAMESPACE="${CREATE_NAMESPACE:-true}"
NAMESPACE_RETENTION="${NAMESPACE_RETENTION:-30d}"
WAIT_ATTEMPTS="${WAIT_ATTEMPTS:-60}"

if [ "$CREATE_NAMESPACE" = "true" ]; then
  # The frontend answers health checks before its namespace registry is ready; retry, bounded.
  attempt=1
  until temporal operator cluster health >/dev/null 2>&1; do
    if [ "$attempt" -ge "$WAIT_ATTEMPTS" ]; then
      echo "Temporal at $TEMPORAL_ADDRESS not healthy after $attempt attempts" >&2
      exit 1
    fi
    attempt=$((attempt + 1))
    sleep 2
  done
  if temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
    echo "namespace $TEMPORAL_NAMESPACE exists"
  else
    temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" \
      --retention "$NAMESPACE_RETENTION"
    echo "namespace $TEMPORAL_NAMESPACE created (retention $NAMESPACE_RETENTION)"
  fi
fi

# A namespace just created reaches every frontend's cache only after a few seconds.
attempt=1
until existing=$(temporal operator search-attribute list --namespace "$TEMPORAL_NAMESPACE" \
  --output json); do
  if [ "$attempt" -ge "$WAIT_ATTEMPTS" ]; then
    echo "cannot list search attributes of $TEMPORAL_NAMESPACE after $attempt attempts" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep 2
done
# name:type pairs; the workflows upsert exactly these (see docs/design.md, "Temporal rules").
for pair in SlaTenant:Keyword SlaClass:Keyword SlaState:Keyword \
  SlaResponseDue:Datetime SlaResolutionDue:Datetime SlaEscalationLevel:Int \
  SlaPagedTo:KeywordList SlaDelivery:Keyword SlaBreached:Bool; do
  name=${pair%%:*}
  type=${pair#*:}
  if printf '%s\n' "$existing" | grep -q "\"$name\""; then
    echo "search attribute $name exists"
  else
    temporal operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" \
      --name "$name" --type "$type"
    echo "search attribute $name ($type) created"
  fi
done
