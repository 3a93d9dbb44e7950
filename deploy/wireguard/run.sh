#!/bin/sh
# Brings wg0 up from /config/wg0.conf, keeps the container alive, and takes wg0 down on SIGTERM so
# its NAT rule goes with it.
set -eu
CONFIG=${WG_CONFIG:-/config/wg0.conf}
wg-quick up "$CONFIG"
trap 'wg-quick down "$CONFIG"; exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
