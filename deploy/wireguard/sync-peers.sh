#!/bin/sh
# The VPN gateway's peer controller (a sidecar of the gateway pod): applies the device list mounted
# from the `wireguard-peers` Secret to the running interface. A Secret volume is updated in place
# when the Secret changes, so adding or revoking a device needs no restart. `wg syncconf` reads the
# interface back and changes only what differs: a new peer is added, a removed one is dropped, and
# every other peer keeps its session, endpoint and counters.
#
#   sync-peers.sh          reconcile every $WG_SYNC_INTERVAL seconds (default 10)
#   sync-peers.sh --once   reconcile once and exit
set -eu
INTERFACE=${WG_INTERFACE:-wg0}
CONFIG=${WG_CONFIG:-/config/wg0.conf}
PEERS=${WG_PEERS:-/peers/peers.conf}
INTERVAL=${WG_SYNC_INTERVAL:-10}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

log() { printf '%s x3dh-wireguard-peers: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

reconcile() {
  # The interface's own settings come from the same file the gateway brought it up with.
  wg-quick strip "$CONFIG" > "$work/next.conf"
  cat "$PEERS" >> "$work/next.conf"
  wg show "$INTERFACE" peers | sort > "$work/before"
  wg syncconf "$INTERFACE" "$work/next.conf"
  wg show "$INTERFACE" peers | sort > "$work/after"
  if ! cmp -s "$work/before" "$work/after"; then
    log "peers applied: $(comm -13 "$work/before" "$work/after" | wc -l) added," \
      "$(comm -23 "$work/before" "$work/after" | wc -l) removed, $(wc -l < "$work/after") in total"
  fi
}

# The gateway container creates the interface; wait for it.
until wg show "$INTERFACE" >/dev/null 2>&1; do sleep 1; done

if [ "${1:-}" = "--once" ]; then
  reconcile
  exit 0
fi
log "watching $PEERS for $INTERFACE every ${INTERVAL}s"
while :; do
  reconcile || log "reconcile failed; retrying"
  sleep "$INTERVAL" & wait $!
done
