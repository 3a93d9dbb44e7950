import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PUBLIC_FILE_MODE, SECRET_FILE_MODE, writeOutputFiles } from '../files/output_file.js';
import { readRequired } from '../files/read_required.js';
import type { WriteOptions } from '../pki/pki_operations.js';

/**
 * The operator's signing key and deployment id (docs/protocol-v2.md section 6.11): an X25519 key
 * pair, whose private half the key server signs identity certificates with (XEdDSA, as devices
 * verify them with libxeddsa), and the deployment id signed into every request and certificate.
 */
export interface OperatorIdentityFiles {
  /** base64url of the 32-byte X25519 private key, one line: the key server's --operator-key file. */
  privateKey: string;
  /** base64url of the 32-byte public key: devices are provisioned with it. */
  publicKey: string;
  deploymentId: string;
}

/** Deployment ids: what the key server and devices accept (a device name's characters). */
export const DEPLOYMENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export const defaultOperatorKeyDir = (dir: string): string => join(dir, 'operator');

/** Where the operator key files live in `keyDir`. */
export function operatorKeyLayout(keyDir: string): { privateKey: string; publicKey: string; deploymentId: string } {
  return { privateKey: join(keyDir, 'operator.key'), publicKey: join(keyDir, 'operator.pub'), deploymentId: join(keyDir, 'deployment-id') };
}

/** A fresh X25519 key pair (raw 32-byte keys, base64url) and the deployment id (random unless given). */
export function newOperatorIdentity(deploymentId?: string): OperatorIdentityFiles {
  if (deploymentId !== undefined && !DEPLOYMENT_ID_PATTERN.test(deploymentId)) {
    throw new Error(`deployment id ${JSON.stringify(deploymentId)} is not 1 to 64 of A-Z a-z 0-9 . _ -`);
  }
  const jwk = generateKeyPairSync('x25519').privateKey.export({ format: 'jwk' });
  return { privateKey: jwk.d!, publicKey: jwk.x!, deploymentId: deploymentId ?? randomBytes(8).toString('hex') };
}

/** Writes the key pair and deployment id into `keyDir`: the private key owner-only, nothing replaced unless forced. */
export async function writeOperatorIdentity(keyDir: string, identity: OperatorIdentityFiles, options: WriteOptions): Promise<void> {
  const layout = operatorKeyLayout(keyDir);
  await writeOutputFiles([
    { path: layout.privateKey, contents: `${identity.privateKey}\n`, mode: SECRET_FILE_MODE },
    { path: layout.publicKey, contents: `${identity.publicKey}\n`, mode: PUBLIC_FILE_MODE },
    { path: layout.deploymentId, contents: `${identity.deploymentId}\n`, mode: PUBLIC_FILE_MODE },
  ], options);
}

/** The public half and deployment id from `keyDir`, for provisioning devices (keys.h). */
export async function readOperatorPublicIdentity(keyDir: string): Promise<{ publicKey: Uint8Array; deploymentId: string }> {
  const layout = operatorKeyLayout(keyDir);
  const hint = 'run "x3dh-ops operator init" first';
  const publicText = (await readRequired(layout.publicKey, hint)).trim();
  const publicKey = Buffer.from(publicText, 'base64url');
  if (publicKey.length !== 32 || publicKey.toString('base64url') !== publicText) throw new Error(`${layout.publicKey} does not hold a 32-byte key in base64url`);
  const deploymentId = (await readRequired(layout.deploymentId, hint)).trim();
  if (!DEPLOYMENT_ID_PATTERN.test(deploymentId)) throw new Error(`${layout.deploymentId} does not hold a deployment id`);
  return { publicKey: new Uint8Array(publicKey), deploymentId };
}
