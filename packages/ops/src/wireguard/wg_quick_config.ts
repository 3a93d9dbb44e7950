import { Ipv4Subnet } from './ipv4_subnet.js';
import type { Peer, PeerRegistry } from './peer_registry.js';

/** The original deployment's MTU: leaves room for WireGuard's overhead on any uplink, IPv6 included. */
export const WIREGUARD_MTU = 1280;
/** Keeps NAT mappings on the device's path open so the server can reach a quiet device. */
const PERSISTENT_KEEPALIVE_SECONDS = 25;

function prefixLength(registry: PeerRegistry): number {
  return Ipv4Subnet.parse(registry.subnet).prefixLength;
}

/**
 * The VPN server's `wg-quick` file: one [Peer] per device, each allowed only its own address.
 * With `natInterface`, device traffic leaves that interface masqueraded, so services behind the VPN
 * server (a Kubernetes Service, say) need no route back to the VPN subnet.
 */
export function serverConfig(registry: PeerRegistry, options: { natInterface?: string | undefined } = {}): string {
  const lines = [
    '[Interface]',
    `Address = ${registry.server.address}/${prefixLength(registry)}`,
    `ListenPort = ${registry.listenPort}`,
    `PrivateKey = ${registry.server.privateKey}`,
    `MTU = ${WIREGUARD_MTU}`,
  ];
  if (options.natInterface) {
    const rule = `POSTROUTING -s ${registry.subnet} -o ${options.natInterface} -j MASQUERADE`;
    lines.push(`PostUp = iptables -t nat -A ${rule}`, `PostDown = iptables -t nat -D ${rule}`);
  }
  for (const peer of registry.peers) {
    lines.push('', `# ${peer.name}`, '[Peer]', `PublicKey = ${peer.publicKey}`, `AllowedIPs = ${peer.address}/32`);
  }
  return `${lines.join('\n')}\n`;
}

/** A device's `wg-quick` file (for Linux devices, the device CLI, and tests). */
export function peerConfig(registry: PeerRegistry, peer: Peer): string {
  return [
    '[Interface]',
    `Address = ${peer.address}/${prefixLength(registry)}`,
    `PrivateKey = ${peer.privateKey}`,
    `MTU = ${WIREGUARD_MTU}`,
    '',
    '[Peer]',
    `PublicKey = ${registry.server.publicKey}`,
    `Endpoint = ${registry.endpoint.host}:${registry.endpoint.port}`,
    `AllowedIPs = ${registry.allowedIps.join(', ')}`,
    `PersistentKeepalive = ${PERSISTENT_KEEPALIVE_SECONDS}`,
    '',
  ].join('\n');
}
