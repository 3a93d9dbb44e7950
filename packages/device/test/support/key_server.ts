import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  createTestCertificates, createTestDatabase, entryScript, startMosquitto, startServer, writeTestOperator, type ServerProcess,
} from '@x3dh-iot/testkit';

const SERVER_MAIN = fileURLToPath(new URL('../../../server/src/main.ts', import.meta.url));

export interface RunningKeyServer {
  /** Environment variables that point the device CLI at this server's broker. */
  deviceEnv: Record<string, string>;
  /**
   * An enrolment token from the operator command (`x3dh-server token issue`), or null when the
   * server runs open enrolment (the embedded defaults).
   */
  issueToken(): Promise<string | null>;
  /**
   * Runs an operator command (`x3dh-server token ...`, `x3dh-server device ...`) on the server's
   * store and returns its stdout; null on the embedded defaults, whose store the running server holds.
   */
  operator: ((args: string[]) => Promise<string>) | null;
  stop(): Promise<void>;
}

/**
 * An operator command (`device set-identity alice -- KEY`) on the server's store, as an operator
 * would run it: the store flags (`--database-url URL` or `--data-dir DIR`) go right after the
 * two-word command, so that its arguments may follow "--". Its stdout.
 */
export async function operatorCommand(store: readonly string[], args: readonly string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath,
    [await entryScript(SERVER_MAIN), ...args.slice(0, 2), ...store, ...args.slice(2)], { timeout: 120_000 });
  return stdout;
}

/** The device CLI's provisioning for this server: the deployment id and operator public key it logged. */
const provisioningEnv = (server: ServerProcess): Record<string, string> =>
  ({ X3DH_DEPLOYMENT_ID: server.deploymentId, X3DH_OPERATOR_KEY: server.operatorPublicKey });

/** The production setup: Mosquitto with TLS 1.3 and the key server on a fresh PostgreSQL database. */
export async function startMosquittoAndPostgres(): Promise<RunningKeyServer> {
  const broker = await startMosquitto();
  const database = await createTestDatabase('x3dh_device');
  try {
    const server = await startServer({
      args: [...writeTestOperator(broker.certificates!.dir).serverArgs,
        '--broker-url', broker.url, '--broker-ca', broker.certificates!.caFile, '--database-url', database.url, '--http-port', '0'],
    });
    return {
      deviceEnv: { X3DH_BROKER_URL: broker.url, X3DH_CA_FILE: broker.certificates!.caFile, ...provisioningEnv(server) },
      issueToken: async () => (await operatorCommand(['--database-url', database.url], ['token', 'issue'])).trim(),
      operator: (args) => operatorCommand(['--database-url', database.url], args),
      stop: async () => {
        await server.stop();
        await broker.stop();
        await database.drop();
      },
    };
  } catch (error) {
    await broker.stop();
    await database.drop();
    throw error;
  }
}

/**
 * The key server on its embedded defaults: its own MQTT broker and PostgreSQL, on free ports and a
 * temporary data directory; open enrolment switched on (it is off by default), so devices need no token.
 */
export async function startEmbedded(): Promise<RunningKeyServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'x3dh-device-embedded-'));
  const server = await startServer({ args: ['--embedded-broker-port', '0', '--http-port', '0', '--data-dir', dataDir, '--open-enrolment'] });
  return {
    deviceEnv: { X3DH_BROKER_URL: server.brokerUrl, ...provisioningEnv(server) },
    issueToken: async () => null,
    operator: null,
    stop: async () => {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The embedded broker with client certificates (TLS 1.3): each device presents a certificate whose
 * CN is its name, and its client id must be that name. Open enrolment is off; one token per device
 * name is issued on the embedded store before the server starts, as an operator would.
 */
export async function startEmbeddedWithClientCertificates(names: readonly string[]): Promise<RunningKeyServer & {
  tokens: Record<string, string>;
  /** Settings of a device presenting the certificate issued to `certificateName`. */
  deviceEnvAs(certificateName: string): Record<string, string>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'x3dh-device-certificates-'));
  const dataDir = join(dir, 'data');
  try {
    const certificates = createTestCertificates(join(dir, 'pki'), [...names, 'key-server']);
    const tokens: Record<string, string> = {};
    for (const name of names) {
      const { stdout } = await promisify(execFile)(process.execPath, [await entryScript(SERVER_MAIN),
        'token', 'issue', '--device', name, '--data-dir', dataDir], { timeout: 120_000 });
      tokens[name] = stdout.trim();
    }
    const server = await startServer({
      v1: false,
      args: ['--data-dir', dataDir, '--embedded-broker-port', '0', '--http-port', '0',
        '--embedded-broker-cert', certificates.server.certFile, '--embedded-broker-key', certificates.server.keyFile,
        '--embedded-broker-ca', certificates.caFile, '--no-open-enrolment',
        '--broker-cert', certificates.clients['key-server']!.certFile, '--broker-key', certificates.clients['key-server']!.keyFile],
    });
    const deviceEnvAs = (name: string) => ({
      X3DH_BROKER_URL: server.brokerUrl, X3DH_CA_FILE: certificates.caFile, ...provisioningEnv(server),
      X3DH_CERT_FILE: certificates.clients[name]!.certFile, X3DH_KEY_FILE: certificates.clients[name]!.keyFile,
    });
    return {
      deviceEnv: { X3DH_BROKER_URL: server.brokerUrl, X3DH_CA_FILE: certificates.caFile, ...provisioningEnv(server) },
      deviceEnvAs,
      tokens,
      issueToken: async () => null,
      operator: null,
      stop: async () => {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
