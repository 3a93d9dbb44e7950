#!/bin/sh
# The VPN gateway: brings wg0 up from /config/wg0.conf (the interface alone; the peer controller,
# sync-peers.sh, adds the devices live), loads the gateway's nftables ruleset (devices reach the
# broker's MQTT listener and nothing else, masqueraded), keeps the container alive, and on SIGTERM
# removes the ruleset and takes wg0 down.
set -eu
CONFIG=${WG_CONFIG:-/config/wg0.conf}
RULES=${WG_RULES:-/config/gateway.nft}
TABLE=x3dh_vpn
# The firewall is in place before the interface exists: no packet is ever forwarded unfiltered.
nft -f "$RULES"
# A restarted container finds the interface of its previous run in the pod's network namespace.
if ip link show "$(basename "$CONFIG" .conf)" >/dev/null 2>&1; then wg-quick down "$CONFIG"; fi
wg-quick up "$CONFIG"
trap 'wg-quick down "$CONFIG"; nft delete table inet "$TABLE"; exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
