#!/usr/bin/env bash
# Brings x3dh-iot up on a local minikube: CloudNativePG operator, certificates and VPN peers from
# the operator CLI, the key server image, then the minikube overlay. Safe to re-run: existing
# certificates, peers and the Erlang cookie are kept.
#
#   deploy/minikube/bootstrap.sh            # devices alice and bob
#   DEVICES="esp32-1 esp32-2" deploy/minikube/bootstrap.sh
#   V1=1 deploy/minikube/bootstrap.sh       # with the original firmware's path (components/v1-firmware)
set -euo pipefail
cd "$(dirname "$0")/../.."

NAMESPACE=x3dh
DEVICES=${DEVICES:-alice bob}
OPS_DIR=${X3DH_OPS_DIR:-$PWD/x3dh-ops}
# Fixed ClusterIP of the rabbitmq Service (overlays/minikube/patches/rabbitmq-cluster-ip.yaml).
BROKER_IP=10.96.100.100
WIREGUARD_NODE_PORT=30000
CNPG_VERSION=${CNPG_VERSION:-1.27.0}
PROMETHEUS_OPERATOR_VERSION=${PROMETHEUS_OPERATOR_VERSION:-0.76.0}
OVERLAY=deploy/k8s/overlays/minikube
# The overlay applied: the minikube one, or the one that adds the original firmware's path.
APPLIED=$OVERLAY
V1_ARGS=()
SYNC_ARGS=()
if [ "${V1:-0}" = 1 ]; then
  APPLIED=deploy/k8s/overlays/minikube-v1
  V1_ARGS=(--enable-v1 "$APPLIED/generated")
  SYNC_ARGS=(--enable-v1)
fi

log() { printf '\n==> %s\n' "$*"; }
ops() { node --conditions=source --import tsx packages/ops/src/cli/main.ts "$@"; }

for tool in minikube kubectl node npm; do
  command -v "$tool" >/dev/null || { echo "bootstrap needs $tool on PATH" >&2; exit 1; }
done
[ -d node_modules ] || { log "installing Node packages"; npm ci --no-audit --no-fund; }

log "minikube"
if ! minikube status >/dev/null 2>&1; then
  # The VPN pod forwards between the tunnel and the cluster network: the kubelet must allow it.
  minikube start --cpus=4 --memory=8g \
    --extra-config=kubelet.allowed-unsafe-sysctls=net.ipv4.ip_forward
fi
NODE_IP=$(minikube ip)
# Volume snapshots of the database (the ScheduledBackup): the CSI hostpath driver and the snapshot CRDs.
minikube addons enable volumesnapshots
minikube addons enable csi-hostpath-driver

log "CloudNativePG operator ${CNPG_VERSION}"
kubectl apply --server-side -f \
  "https://raw.githubusercontent.com/cloudnative-pg/cloudnative-pg/release-${CNPG_VERSION%.*}/releases/cnpg-${CNPG_VERSION}.yaml"
kubectl -n cnpg-system rollout status deployment/cnpg-controller-manager --timeout=300s

log "Prometheus Operator ${PROMETHEUS_OPERATOR_VERSION} (ServiceMonitor, PodMonitor and PrometheusRule kinds)"
kubectl apply --server-side -f \
  "https://github.com/prometheus-operator/prometheus-operator/releases/download/v${PROMETHEUS_OPERATOR_VERSION}/bundle.yaml"

log "certificates (${OPS_DIR}/pki)"
[ -f "$OPS_DIR/pki/ca.crt" ] || ops pki init -d "$OPS_DIR"
[ -f "$OPS_DIR/pki/broker.crt" ] || ops pki broker -d "$OPS_DIR" --ip "$BROKER_IP" \
  --dns rabbitmq --dns "rabbitmq.$NAMESPACE" --dns "rabbitmq.$NAMESPACE.svc" --dns "rabbitmq.$NAMESPACE.svc.cluster.local"
[ -f "$OPS_DIR/pki/server-client.crt" ] || ops pki server-client -d "$OPS_DIR"
for device in $DEVICES; do
  [ -f "$OPS_DIR/pki/devices/$device.crt" ] || ops pki device "$device" -d "$OPS_DIR"
done

log "WireGuard peers (${OPS_DIR}/wireguard)"
# shellcheck disable=SC2086 # one argument per device
ops wg provision $DEVICES -d "$OPS_DIR" --endpoint "$NODE_IP:$WIREGUARD_NODE_PORT" --listen-port 51820 --route "$BROKER_IP/32"

log "Secrets and ConfigMaps (${OVERLAY}/generated)"
ops k8s-secrets -d "$OPS_DIR" -o "$OVERLAY/generated" "${V1_ARGS[@]}"

log "images: key server and VPN endpoint"
minikube image build -t x3dh-server:dev -f deploy/Dockerfile .
minikube image build -t x3dh-wireguard:dev deploy/wireguard

log "deploying"
kubectl apply -k "$APPLIED"
kubectl -n "$NAMESPACE" rollout status statefulset/rabbitmq --timeout=600s

log "broker users of the devices (applied live; again after every device change)"
ops broker rabbitmq-sync -d "$OPS_DIR" --rabbitmqctl "kubectl -n $NAMESPACE exec -i rabbitmq-0 -c rabbitmq -- rabbitmqctl" "${SYNC_ARGS[@]}"
kubectl -n "$NAMESPACE" wait cluster.postgresql.cnpg.io/x3dh-db --for=condition=Ready --timeout=600s
kubectl -n "$NAMESPACE" rollout status deployment/x3dh-server --timeout=300s
kubectl -n "$NAMESPACE" rollout status deployment/wireguard --timeout=300s

log "RabbitMQ cluster members (expect three running nodes)"
kubectl -n "$NAMESPACE" exec rabbitmq-0 -- rabbitmq-diagnostics --quiet cluster_status

log "firmware headers"
for device in $DEVICES; do
  ops firmware keys-h "$device" -d "$OPS_DIR" --broker-uri "mqtts://$BROKER_IP:8883" --force
done
echo "Copy $OPS_DIR/firmware/<device>/keys.h to the firmware's main/keys.h and build."
