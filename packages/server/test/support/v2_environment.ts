import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KeyPair } from '@x3dh-iot/protocol';
import {
  createTestDatabase, enrolV2Device, issueClientCertificate, startMosquitto, V2TestDevice, writeTestOperator, type MosquittoBroker,
  type TestDatabase, TEST_DEPLOYMENT_ID,
} from '@x3dh-iot/testkit';
import pg from 'pg';
import { callOperatorSocket } from '../../src/admin/operator_socket.js';
import { createLogger, parseServerConfig, startKeyServer, type KeyServer, type ServerConfig } from '../../src/index.js';

const SERVER_NAME = 'x3dh-server';

/** A device's client certificate and key (PEM), from the test CA in `dir`. */
export function deviceCertificate(dir: string, name: string): { cert: string; key: string } {
  const { cert, key } = issueClientCertificate(dir, name);
  return { cert, key };
}

let uniqueCounter = 0;
/** A device name no other test of this process uses. */
export const uniqueName = (base: string): string => `${base}-${process.pid}-${++uniqueCounter}`;

/** A key server (or several) serving v2, and ways to connect v2 test devices to it. */
export interface V2Environment {
  readonly name: string;
  readonly kind: 'postgresql' | 'embedded';
  readonly brokerUrl: string;
  readonly ca: string | undefined;
  /** HTTP port (/metrics) of the first server. */
  readonly httpPort: number;
  /** The store flags of operator commands on this server's store (support/admin_cli.ts). */
  readonly store: readonly string[];
  /** The first server (PostgreSQL: the first replica). */
  readonly server: KeyServer;
  /** Connects a device (with its client certificate on Mosquitto) without enrolling it. */
  device(name: string, options?: { identity?: KeyPair }): Promise<V2TestDevice>;
  /** Connects, enrols (with a fresh token when enrolment is closed) and uploads prekeys (ids 1...). */
  enrolled(name: string, options?: { oneTimePreKeys?: number; identity?: KeyPair }): Promise<V2TestDevice>;
  /** Issues an enrolment token as the operator would. */
  issueToken(options?: { device?: string; expiresInSeconds?: number }): Promise<string>;
  /** Runs SQL on the store (PostgreSQL only), to look for side effects. */
  query<Row = Record<string, unknown>>(text: string, params?: unknown[]): Promise<Row[]>;
  /** One more server replica on the same broker and store (PostgreSQL only), its configuration changed by `overrides`. */
  addReplica(overrides?: Partial<ServerConfig>): Promise<KeyServer>;
  close(): Promise<void>;
}

const quiet = () => createLogger(process.env.X3DH_TEST_LOG_LEVEL ?? 'warn');

/**
 * PostgreSQL (fresh database) and Mosquitto over TLS 1.3 requiring client certificates (issued per
 * device name on first use, and one for the server), served by in-process server(s).
 * `clientCertificates: false` lets clients in without one (for v1 devices, which have none).
 */
export async function startV2Postgres(
  extraArgs: readonly string[] = [], options: { clientCertificates?: boolean } = {},
): Promise<V2Environment> {
  const clientCertificates = options.clientCertificates ?? true;
  const database: TestDatabase = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: database.url, max: 2 });
  let broker: MosquittoBroker | undefined;
  const servers: KeyServer[] = [];
  const devices: V2TestDevice[] = [];
  try {
    broker = await startMosquitto({ tls: true, requireClientCertificate: clientCertificates, clientNames: [SERVER_NAME] });
    const certificates = broker.certificates!;
    // Every replica signs certificates with one operator key, as a deployment's replicas must.
    const operator = writeTestOperator(certificates.dir);
    const args = [...operator.serverArgs, '--broker-url', broker.url, '--broker-ca', certificates.caFile,
      '--broker-cert', certificates.clients[SERVER_NAME]!.certFile, '--broker-key', certificates.clients[SERVER_NAME]!.keyFile,
      '--database-url', database.url, '--http-port', '0', ...extraArgs];
    const startReplica = async (overrides: Partial<ServerConfig> = {}) => {
      const config = parseServerConfig([...args, '--client-id', `test-server-${servers.length}`]);
      const server = await startKeyServer({ ...config, ...overrides }, quiet());
      servers.push(server);
      return server;
    };
    const first = await startReplica();
    const b = broker;
    const issueToken = async (options: { device?: string; expiresInSeconds?: number } = {}) => {
      const token = randomBytes(32).toString('base64url');
      await pool.query(
        `INSERT INTO enrolment_tokens (token_digest, device, note, expires_at)
         VALUES ($1, $2, 'test', now() + make_interval(secs => $3))`,
        [createHash('sha256').update(token, 'utf8').digest(), options.device ?? null, options.expiresInSeconds ?? null]);
      return token;
    };
    const connection = (name: string) => ({
      brokerUrl: b.url, ca: certificates.ca, name,
      ...(clientCertificates ? deviceCertificate(certificates.dir, name) : {}),
    });
    return {
      name: `postgresql + mosquitto (TLS 1.3${clientCertificates ? ', client certificates' : ''})`,
      kind: 'postgresql',
      brokerUrl: b.url,
      ca: certificates.ca,
      httpPort: first.httpPort,
      store: ['--database-url', database.url],
      server: first,
      device: async (name, options = {}) => {
        const device = await V2TestDevice.connect({ ...connection(name), identity: options.identity });
        devices.push(device);
        return device;
      },
      enrolled: async (name, options = {}) => {
        const device = await enrolV2Device({
          ...connection(name), identity: options.identity, token: await issueToken(), oneTimePreKeys: options.oneTimePreKeys,
        });
        devices.push(device);
        return device;
      },
      issueToken,
      query: async <Row>(text: string, params: unknown[] = []) => (await pool.query(text, params)).rows as Row[],
      addReplica: startReplica,
      close: async () => {
        await Promise.all(devices.map((d) => d.close().catch(() => undefined)));
        for (const server of servers) await server.close();
        await b.stop();
        await pool.end();
        await database.drop();
      },
    };
  } catch (error) {
    for (const server of servers) await server.close();
    await broker?.stop();
    await pool.end();
    await database.drop();
    throw error;
  }
}

/**
 * The embedded PostgreSQL in a temporary data directory and the embedded broker, enrolment closed (its
 * default): tokens are issued through the server's operator socket, as `x3dh-server token issue` does.
 */
export async function startV2Embedded(extraArgs: readonly string[] = []): Promise<V2Environment> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-v2-embedded-'));
  const devices: V2TestDevice[] = [];
  const server = await startKeyServer(parseServerConfig([
    '--data-dir', dataDir, '--embedded-broker-port', '0', '--http-port', '0', '--deployment-id', TEST_DEPLOYMENT_ID, ...extraArgs,
  ]), quiet());
  const unsupported = (what: string) => () => Promise.reject(new Error(`${what}: PostgreSQL environment only`));
  const issueToken = async (options: { device?: string; expiresInSeconds?: number } = {}) => {
    const token = randomBytes(32).toString('base64url');
    await callOperatorSocket(dataDir, 'token.issue', {
      digest: createHash('sha256').update(token, 'utf8').digest('base64url'), device: options.device ?? null, note: 'test',
      expiresInSeconds: options.expiresInSeconds ?? null,
    });
    return token;
  };
  return {
    name: 'embedded postgresql + embedded broker',
    kind: 'embedded',
    brokerUrl: server.brokerUrl,
    ca: undefined,
    httpPort: server.httpPort,
    store: ['--data-dir', dataDir],
    server,
    device: async (name, options = {}) => {
      const device = await V2TestDevice.connect({ brokerUrl: server.brokerUrl, name, identity: options.identity });
      devices.push(device);
      return device;
    },
    enrolled: async (name, options = {}) => {
      const device = await enrolV2Device({
        brokerUrl: server.brokerUrl, name, identity: options.identity, token: await issueToken(), oneTimePreKeys: options.oneTimePreKeys,
      });
      devices.push(device);
      return device;
    },
    issueToken,
    query: unsupported('query'),
    addReplica: unsupported('addReplica'),
    close: async () => {
      await Promise.all(devices.map((d) => d.close().catch(() => undefined)));
      await server.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const v2Environments = [
  { name: 'postgresql + mosquitto (TLS 1.3, client certificates)', kind: 'postgresql', start: startV2Postgres },
  { name: 'embedded postgresql + embedded broker', kind: 'embedded', start: startV2Embedded },
] as const;
