import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SECRET_FILE_MODE, writeOutputFiles, type Progress } from '../files/output_file.js';
import { loadPeerRegistry, provisionPeers, removePeers, requirePeerRegistry, savePeerRegistry, type PeerRegistry, type ProvisionRequest } from './peer_registry.js';
import { peerConfig, serverConfig } from './wg_quick_config.js';

export const serverConfigPath = (dir: string): string => join(dir, 'wireguard', 'wg0.conf');
export const peerConfigPath = (dir: string, device: string): string => join(dir, 'wireguard', 'peers', `${device}.conf`);

/**
 * Brings the registry up to date with the requested devices, then regenerates every configuration
 * from it. The configuration files are derived from the registry, so they are always rewritten.
 */
export async function provisionWireGuard(dir: string, request: ProvisionRequest, progress: Progress): Promise<PeerRegistry> {
  const { registry, added } = provisionPeers(await loadPeerRegistry(dir), request);
  for (const name of added) progress(`new peer ${name}`);
  await writeRegistryAndConfigs(dir, registry, progress);
  return registry;
}

/** Removes devices' peers and their configuration files; the other peers keep everything. */
export async function removeWireGuardPeers(dir: string, devices: string[], progress: Progress): Promise<PeerRegistry> {
  const { registry, removed } = removePeers(await requirePeerRegistry(dir), devices);
  for (const name of removed) {
    await rm(peerConfigPath(dir, name), { force: true });
    progress(`removed peer ${name}`);
  }
  await writeRegistryAndConfigs(dir, registry, progress);
  return registry;
}

async function writeRegistryAndConfigs(dir: string, registry: PeerRegistry, progress: Progress): Promise<void> {
  await savePeerRegistry(dir, registry, progress);
  await writeOutputFiles(
    [
      { path: serverConfigPath(dir), contents: serverConfig(registry), mode: SECRET_FILE_MODE },
      ...registry.peers.map((peer) => ({ path: peerConfigPath(dir, peer.name), contents: peerConfig(registry, peer), mode: SECRET_FILE_MODE })),
    ],
    { force: true, progress },
  );
}
