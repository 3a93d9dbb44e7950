#!/bin/sh
# RabbitMQ readiness: a node takes clients only when it is a member of the cluster with enough
# running nodes (a node that formed a cluster of its own, or lost its peers, is not), raises no
# resource alarm, and has imported the boot definitions (the virtual host and the key server's
# permissions). Prints why it is not ready.
set -eu
VHOST=${X3DH_VHOST:-x3dh}
SERVER_USER=${X3DH_SERVER_USER:-x3dh-server}
MIN_NODES=${X3DH_READY_MIN_NODES:-2}

status=$(rabbitmq-diagnostics --quiet cluster_status --formatter json | tr -d '\n')
running=$(printf '%s' "$status" | sed -n 's/.*"running_nodes":\[\([^]]*\)\].*/\1/p' | tr ',' '\n' | grep -c '"' || true)
if [ "$running" -lt "$MIN_NODES" ]; then
  echo "not ready: $running running cluster member(s), $MIN_NODES needed" >&2
  exit 1
fi
rabbitmq-diagnostics --quiet check_local_alarms >/dev/null || { echo "not ready: resource alarm" >&2; exit 1; }
if ! rabbitmqctl --quiet list_permissions -p "$VHOST" 2>/dev/null | grep -q "^$SERVER_USER[[:space:]]"; then
  echo "not ready: definitions not imported (no permissions of $SERVER_USER in $VHOST)" >&2
  exit 1
fi
