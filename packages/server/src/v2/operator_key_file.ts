import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decodeBase64url, encodeBase64url, generateKeyPair } from '@x3dh-iot/protocol';
import { OWNER_ONLY_DIR_MODE, OWNER_ONLY_FILE_MODE } from '../storage/owner_only.js';
import { OperatorIdentity } from './operator_identity.js';

/** Where a server without --operator-key keeps the key and deployment id it made on first start. */
export const OPERATOR_KEY_FILE = 'operator.key';
export const DEPLOYMENT_ID_FILE = 'deployment-id';

/**
 * Reads an operator private key file as `x3dh-ops operator init` writes it: the 32-byte X25519
 * private key in base64url on one line. Refuses a file others can read, as ssh does with its keys.
 */
export function readOperatorKeyFile(file: string): Uint8Array {
  const mode = fs.statSync(file).mode & 0o077;
  if (mode !== 0) throw new Error(`operator key ${file} can be read by others (mode ${(fs.statSync(file).mode & 0o777).toString(8)}): chmod 600 it`);
  let key: Uint8Array;
  try {
    key = decodeBase64url(fs.readFileSync(file, 'utf8').trim(), 'operator key');
  } catch (error) {
    throw new Error(`operator key ${file}: ${(error as Error).message}`);
  }
  if (key.length !== 32) throw new Error(`operator key ${file} must hold a 32-byte X25519 private key in base64url, got ${key.length} bytes`);
  return key;
}

/** Writes `content` to a new owner-only file; false when the file exists already (another replica made it first). */
function createOwnerOnly(file: string, content: string): boolean {
  try {
    fs.writeFileSync(file, content, { mode: OWNER_ONLY_FILE_MODE, flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * The operator identity of this server: --operator-key and --deployment-id when given; otherwise the
 * key (and, without --deployment-id, the deployment id) kept in the data directory, made on the
 * first start, so the embedded defaults need no manual step. `created` says what was made now.
 */
export function loadOperatorIdentity(options: { keyFile: string | undefined; deploymentId: string | undefined; dataDir: string }): {
  operator: OperatorIdentity; created: boolean; keyFile: string;
} {
  if (options.keyFile !== undefined) {
    if (options.deploymentId === undefined) throw new Error('--operator-key needs --deployment-id (both are printed by x3dh-ops operator init)');
    return { operator: new OperatorIdentity(readOperatorKeyFile(options.keyFile), options.deploymentId), created: false, keyFile: options.keyFile };
  }
  fs.mkdirSync(options.dataDir, { recursive: true, mode: OWNER_ONLY_DIR_MODE });
  const keyFile = path.join(options.dataDir, OPERATOR_KEY_FILE);
  const created = createOwnerOnly(keyFile, `${encodeBase64url(generateKeyPair().privateKey)}\n`);
  let deploymentId = options.deploymentId;
  if (deploymentId === undefined) {
    const idFile = path.join(options.dataDir, DEPLOYMENT_ID_FILE);
    createOwnerOnly(idFile, `${randomBytes(8).toString('hex')}\n`);
    deploymentId = fs.readFileSync(idFile, 'utf8').trim();
  }
  return { operator: new OperatorIdentity(readOperatorKeyFile(keyFile), deploymentId), created, keyFile };
}
