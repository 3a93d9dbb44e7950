import fs from 'node:fs';
import path from 'node:path';
import { encodeBase64url, generateKeyPair, type KeyPair } from '@x3dh-iot/protocol';

/** The deployment id test servers are started for and test devices sign their requests for, unless a test says otherwise. */
export const TEST_DEPLOYMENT_ID = 'x3dh-test';

export interface TestOperator {
  /** The operator key pair: the server signs certificates with it, devices verify them. */
  key: KeyPair;
  /** Its private key file, as `x3dh-ops operator init` writes it (owner-only). */
  keyFile: string;
  deploymentId: string;
  /** `--operator-key FILE --deployment-id ID` for x3dh-server. */
  serverArgs: string[];
}

/** Writes a fresh operator key into `dir`, for a server that tests and devices then share. */
export function writeTestOperator(dir: string, deploymentId = TEST_DEPLOYMENT_ID): TestOperator {
  const key = generateKeyPair();
  const keyFile = path.join(dir, `operator-${deploymentId}.key`);
  fs.writeFileSync(keyFile, `${encodeBase64url(key.privateKey)}\n`, { mode: 0o600 });
  return { key, keyFile, deploymentId, serverArgs: ['--operator-key', keyFile, '--deployment-id', deploymentId] };
}
