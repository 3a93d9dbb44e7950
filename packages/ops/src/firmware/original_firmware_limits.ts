import { Ipv4Subnet } from '../wireguard/ipv4_subnet.js';
import type { PeerRegistry } from '../wireguard/peer_registry.js';

/**
 * The original firmware ignores WG_LOCAL_IP_NETMASK: it gives its tunnel interface the netmask
 * 255.0.0.0 and the gateway 10.13.13.1, whatever keys.h says. Deployments for it must fit that.
 */
export const ORIGINAL_FIRMWARE_GATEWAY = '10.13.13.1';
const ORIGINAL_FIRMWARE_NETWORK = Ipv4Subnet.parse('10.0.0.0/8');

/** Why an unmodified firmware could not use this deployment (empty when it can). */
export function originalFirmwareWarnings(registry: PeerRegistry, brokerUri: string): string[] {
  const warnings: string[] = [];
  if (registry.server.address !== ORIGINAL_FIRMWARE_GATEWAY) {
    warnings.push(`the original firmware uses ${ORIGINAL_FIRMWARE_GATEWAY} as its tunnel gateway, but this VPN server is ${registry.server.address}`);
  }
  const host = new URL(brokerUri).hostname;
  if (!ORIGINAL_FIRMWARE_NETWORK.contains(host)) {
    warnings.push(`the original firmware routes only 10.0.0.0/8 through the tunnel, but the broker is ${host}`);
  }
  return warnings;
}
