import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SECRET_FILE_MODE, writeOutputFiles } from '../files/output_file.js';
import { readRequired } from '../files/read_required.js';
import { pkiLayout } from '../pki/pki_layout.js';
import type { WriteOptions } from '../pki/pki_operations.js';
import { findPeer, requirePeerRegistry } from '../wireguard/peer_registry.js';
import { defaultOperatorKeyDir, readOperatorPublicIdentity } from '../operator/operator_key.js';
import { keysHeader } from './keys_header.js';
import { originalFirmwareWarnings } from './original_firmware_limits.js';

export const defaultKeysHeaderPath = (dir: string, device: string): string => join(dir, 'firmware', device, 'keys.h');

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * `keys.h` for one device, from its WireGuard peer, the CA, the operator public key and deployment
 * id (`operator init`) and (when issued) its certificate; warns
 * when the original firmware's fixed network settings do not fit the deployment.
 */
export async function writeKeysHeader(
  dir: string,
  device: string,
  options: WriteOptions & { brokerUri: string; out?: string | undefined; operatorDir?: string | undefined },
): Promise<string> {
  const registry = await requirePeerRegistry(dir);
  const peer = findPeer(registry, device);
  const layout = pkiLayout(dir);
  const caCertificatePem = await readRequired(layout.caCert, 'run "pki init" first');
  const certificatePem = await readOptional(layout.deviceCert(device));
  const privateKeyPem = await readOptional(layout.deviceKey(device));
  const client = certificatePem && privateKeyPem ? { certificatePem, privateKeyPem } : undefined;
  const operator = await readOperatorPublicIdentity(options.operatorDir ?? defaultOperatorKeyDir(dir));
  const path = options.out ?? defaultKeysHeaderPath(dir, device);
  await writeOutputFiles([{ path, contents: keysHeader({ registry, peer, brokerUri: options.brokerUri, caCertificatePem, client, operator }), mode: SECRET_FILE_MODE }], options);
  for (const warning of originalFirmwareWarnings(registry, options.brokerUri)) options.progress(`warning: ${warning}`);
  return path;
}
