import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { assertDeviceName } from '../device_name.js';
import { SECRET_FILE_MODE, writeOutputFiles, type Progress } from '../files/output_file.js';
import { Ipv4Subnet } from './ipv4_subnet.js';
import { generateWireGuardKeyPair } from './wireguard_keys.js';

const keySchema = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be a base64 WireGuard key');

const registrySchema = z.object({
  version: z.literal(1),
  subnet: z.string(),
  endpoint: z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }),
  /** The server's UDP port; differs from the endpoint's behind a port mapping (a NodePort, say). */
  listenPort: z.number().int().min(1).max(65535),
  /** What peers route through the tunnel: the VPN subnet plus, for example, the cluster's service range. */
  allowedIps: z.array(z.string()).min(1),
  server: z.object({ address: z.string(), privateKey: keySchema, publicKey: keySchema }),
  peers: z.array(z.object({ name: z.string(), address: z.string(), privateKey: keySchema, publicKey: keySchema })),
});

export type PeerRegistry = z.infer<typeof registrySchema>;
export type Peer = PeerRegistry['peers'][number];

export const registryPath = (dir: string): string => join(dir, 'wireguard', 'registry.json');

export async function loadPeerRegistry(dir: string): Promise<PeerRegistry | null> {
  let text: string;
  try {
    text = await readFile(registryPath(dir), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  return registrySchema.parse(JSON.parse(text));
}

export async function requirePeerRegistry(dir: string): Promise<PeerRegistry> {
  const registry = await loadPeerRegistry(dir);
  if (!registry) throw new Error(`no WireGuard registry at ${registryPath(dir)} (run "wg provision" first)`);
  return registry;
}

/** Default VPN subnet (the original deployment's). */
export const DEFAULT_VPN_SUBNET = '10.13.13.0/24';

export interface ProvisionRequest {
  /** The stored subnet, or the default for a new registry, when absent. */
  subnet?: string | undefined;
  /** Required when the registry is created; later runs keep the stored one unless given. */
  endpoint?: { host: string; port: number } | undefined;
  /** The server's own port; the endpoint's port unless given, kept on later runs. */
  listenPort?: number | undefined;
  /** Extra routes for the peers besides the VPN subnet; later runs keep the stored ones unless given. */
  routes?: string[] | undefined;
  devices: string[];
}

/**
 * Adds the devices that have no peer yet and keeps every existing peer (keys and addresses never
 * change on a re-run). The server takes the subnet's first host; peers take the next free ones.
 */
export function provisionPeers(existing: PeerRegistry | null, request: ProvisionRequest): { registry: PeerRegistry; added: string[] } {
  const subnet = Ipv4Subnet.parse(request.subnet ?? existing?.subnet ?? DEFAULT_VPN_SUBNET);
  if (subnet.hostCount < 2) throw new Error(`VPN subnet ${subnet.toString()} has no room for a server and a peer`);
  for (const device of request.devices) assertDeviceName(device);
  if (existing && existing.subnet !== subnet.toString()) {
    throw new Error(`the registry uses subnet ${existing.subnet}; moving peers to ${subnet.toString()} would change every device's address`);
  }
  const endpoint = request.endpoint ?? existing?.endpoint;
  if (!endpoint) throw new Error('the first provisioning needs the endpoint devices reach the VPN server at');
  const allowedIps = request.routes
    ? [subnet.toString(), ...request.routes.map((route) => Ipv4Subnet.parse(route).toString())]
    : (existing?.allowedIps ?? [subnet.toString()]);
  const listenPort = request.listenPort ?? existing?.listenPort ?? endpoint.port;
  const registry: PeerRegistry = existing
    ? { ...existing, endpoint, listenPort, allowedIps, peers: [...existing.peers] }
    : { version: 1, subnet: subnet.toString(), endpoint, listenPort, allowedIps, server: { address: subnet.host(1), ...generateWireGuardKeyPair() }, peers: [] };

  const taken = new Set([registry.server.address, ...registry.peers.map((peer) => peer.address)]);
  const known = new Set(registry.peers.map((peer) => peer.name));
  const added: string[] = [];
  let next = 2;
  for (const name of request.devices) {
    if (known.has(name)) continue;
    while (next <= subnet.hostCount && taken.has(subnet.host(next))) next += 1;
    if (next > subnet.hostCount) throw new Error(`subnet ${subnet.toString()} has no free address left for ${name}`);
    const address = subnet.host(next);
    taken.add(address);
    known.add(name);
    registry.peers.push({ name, address, ...generateWireGuardKeyPair() });
    added.push(name);
  }
  return { registry, added };
}

/**
 * Drops the named devices' peers (a revoked or retired device): their keys stop working once the
 * gateway applies the registry, and their addresses become free for later devices.
 */
export function removePeers(existing: PeerRegistry, devices: string[]): { registry: PeerRegistry; removed: string[] } {
  const unknown = devices.filter((name) => !existing.peers.some((peer) => peer.name === name));
  if (unknown.length > 0) throw new Error(`no WireGuard peer named ${unknown.join(', ')}`);
  const drop = new Set(devices);
  return { registry: { ...existing, peers: existing.peers.filter((peer) => !drop.has(peer.name)) }, removed: [...drop] };
}

export async function savePeerRegistry(dir: string, registry: PeerRegistry, progress: Progress): Promise<void> {
  await writeOutputFiles([{ path: registryPath(dir), contents: `${JSON.stringify(registry, null, 2)}\n`, mode: SECRET_FILE_MODE }], { force: true, progress });
}

export function findPeer(registry: PeerRegistry, name: string): Peer {
  const peer = registry.peers.find((candidate) => candidate.name === name);
  if (!peer) throw new Error(`no WireGuard peer named ${name} (run "wg provision ${name}" first)`);
  return peer;
}
