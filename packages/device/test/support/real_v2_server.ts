import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeBase64url, type KeyPair, wireV2 } from '@x3dh-iot/protocol';
import {
  createTestDatabase, enrolV2Device, issueClientCertificate, startMosquitto, startServer, V2TestDevice, writeTestOperator, type MosquittoBroker,
  type ServerProcess, type TestDatabase,
} from '@x3dh-iot/testkit';
import {
  type ConnectionSettings, type DeviceProvisioning, MemoryKeyStore, MqttV2Link, type KeyStore, SecureDevice, type SecureDeviceOptions, type V2Link,
  type V2LinkListener, type V2WireRequest,
} from '../../src/index.js';
import { operatorCommand } from './key_server.js';

const SERVER_NAME = 'x3dh-server';

/** One request a device sent through its link, with the response it got (undefined when it got none). */
export interface RecordedRequest {
  operation: wireV2.V2Operation;
  body: Record<string, unknown>;
  response: { ok: boolean; result?: Record<string, unknown>; error?: { code: string } } | undefined;
}

/**
 * The device's real MQTT link, recording what goes through it; operations in `failing` fail before
 * they are sent, as if the connection dropped at that moment.
 */
export class RecordingLink implements V2Link {
  readonly requests: RecordedRequest[] = [];
  readonly failing = new Set<wireV2.V2Operation>();
  /** Called with each operation as it is sent, to put requests in order with other events. */
  onRequest: ((operation: wireV2.V2Operation) => void) | null = null;

  constructor(private readonly inner: V2Link) {}

  async request(request: V2WireRequest): Promise<{ payload: Buffer }> {
    const operation = wireV2.parseRequestTopic(request.topic)!.operation;
    const entry: RecordedRequest = { operation, body: JSON.parse(request.payload.toString('utf8')) as Record<string, unknown>, response: undefined };
    this.requests.push(entry);
    this.onRequest?.(operation);
    if (this.failing.has(operation)) throw new Error(`${operation} lost on the way`);
    const response = await this.inner.request(request);
    entry.response = JSON.parse(response.payload.toString('utf8')) as RecordedRequest['response'];
    return response;
  }

  listen(listener: V2LinkListener): void {
    this.inner.listen(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** The operations sent, in order. */
  operations(): string[] {
    return this.requests.map((r) => r.operation);
  }
}

/** A real key server (child process) with its broker and store, and devices connected to it. */
export interface RealV2Server {
  readonly name: string;
  readonly kind: 'postgresql' | 'embedded';
  /** A SecureDevice named `name` on `store`, through its recording link; not enrolled. */
  open(name: string, store?: KeyStore, options?: SecureDeviceOptions): Promise<SecureDevice>;
  /** Like open, then enrolled (with an operator's token when enrolment is closed) and its bundle published. */
  enrolled(name: string, store?: KeyStore, options?: SecureDeviceOptions): Promise<SecureDevice>;
  /** The recording link of the device named `name` (the latest one opened). */
  link(name: string): RecordingLink;
  /** A raw test device connected as `name` (its own client certificate on Mosquitto), for attacks; not enrolled. */
  raw(name: string, identity?: KeyPair): Promise<V2TestDevice>;
  /** A raw test device, enrolled, with a signed prekey (id 1) and `oneTimePreKeys` one-time prekeys. */
  rawEnrolled(name: string, oneTimePreKeys?: number): Promise<V2TestDevice>;
  /** Runs an operator command (`x3dh-server device ...`) on the store (on the embedded defaults, through the server holding it). */
  operator: (args: string[]) => Promise<string>;
  /** The deployment id and operator public key the server logged, which its devices are provisioned with. */
  readonly provisioning: DeviceProvisioning;
  close(): Promise<void>;
}


/** What a device of this server is provisioned with: the operator public key and deployment id it logged. */
const provisioningOf = (server: ServerProcess): DeviceProvisioning =>
  ({ deploymentId: server.deploymentId, operatorKey: decodeBase64url(server.operatorPublicKey) });

function serverOn(
  kind: RealV2Server['kind'], name: string, provisioning: DeviceProvisioning, settingsOf: (device: string) => ConnectionSettings,
  rawOptionsOf: (device: string) => { brokerUrl: string; ca?: string; cert?: string; key?: string },
  token: () => Promise<string | undefined>, operator: RealV2Server['operator'], stop: () => Promise<void>,
): RealV2Server {
  const links = new Map<string, RecordingLink>();
  const devices: SecureDevice[] = [];
  const raws: V2TestDevice[] = [];
  const open = async (device: string, store: KeyStore = new MemoryKeyStore(), options: SecureDeviceOptions = {}) => {
    const opened = await SecureDevice.open(store, (n) => {
      const link = new RecordingLink(new MqttV2Link(settingsOf(n), n));
      links.set(n, link);
      return link;
    }, { client: { timeoutMs: 20_000 }, provisioning, ...options });
    devices.push(opened);
    await opened.setUsername(device);
    return opened;
  };
  return {
    name,
    kind,
    provisioning,
    open,
    enrolled: async (device, store, options) => {
      const opened = await open(device, store, options);
      await opened.registerIdentity({ token: await token() });
      await opened.publishBundle();
      return opened;
    },
    link: (device) => {
      const link = links.get(device);
      if (!link) throw new Error(`no link opened for ${device}`);
      return link;
    },
    raw: async (device, identity) => {
      const raw = await V2TestDevice.connect({ ...rawOptionsOf(device), name: device, ...(identity ? { identity } : {}), timeoutMs: 20_000 });
      raws.push(raw);
      return raw;
    },
    rawEnrolled: async (device, oneTimePreKeys = 10) => {
      const raw = await enrolV2Device({ ...rawOptionsOf(device), name: device, token: await token(), oneTimePreKeys, timeoutMs: 20_000 });
      raws.push(raw);
      return raw;
    },
    operator,
    close: async () => {
      await Promise.all(devices.map((d) => d.close().catch(() => undefined)));
      await Promise.all(raws.map((d) => d.close().catch(() => undefined)));
      await stop();
    },
  };
}

/**
 * The production setup: the key server (its own process) on a fresh PostgreSQL database and
 * Mosquitto over TLS 1.3 requiring client certificates, one per device name; enrolment needs a
 * token, issued by the operator command.
 */
export async function startRealPostgres(serverArgs: readonly string[] = []): Promise<RealV2Server> {
  const database: TestDatabase = await createTestDatabase('x3dh_device_v2');
  let broker: MosquittoBroker | undefined;
  let server: ServerProcess | undefined;
  try {
    broker = await startMosquitto({ tls: true, requireClientCertificate: true, clientNames: [SERVER_NAME] });
    const certificates = broker.certificates!;
    server = await startServer({
      v1: false,
      args: [...writeTestOperator(certificates.dir).serverArgs, '--broker-url', broker.url, '--broker-ca', certificates.caFile,
        '--broker-cert', certificates.clients[SERVER_NAME]!.certFile, '--broker-key', certificates.clients[SERVER_NAME]!.keyFile,
        '--database-url', database.url, '--http-port', '0', ...serverArgs],
    });
    const operator = (args: string[]) => operatorCommand(['--database-url', database.url], args);
    const b = broker;
    const s = server;
    return serverOn('postgresql', 'postgresql + mosquitto (TLS 1.3, client certificates)', provisioningOf(s),
      (device) => {
        const { certFile, keyFile } = issueClientCertificate(certificates.dir, device);
        return { brokerUrl: b.url, caFile: certificates.caFile, certFile, keyFile, timeoutMs: 20_000 };
      },
      (device) => {
        const { cert, key } = issueClientCertificate(certificates.dir, device);
        return { brokerUrl: b.url, ca: certificates.ca, cert, key };
      },
      async () => (await operator(['token', 'issue'])).trim(),
      operator,
      async () => {
        await s.stop();
        await b.stop();
        await database.drop();
      });
  } catch (error) {
    await server?.stop();
    await broker?.stop();
    await database.drop();
    throw error;
  }
}

/** The key server on its embedded defaults (its own process): embedded PostgreSQL, the embedded broker, with open enrolment switched on. */
export async function startRealEmbedded(serverArgs: readonly string[] = []): Promise<RealV2Server> {
  const dataDir = fs.mkdtempSync(path.join(tmpdir(), 'x3dh-device-v2-'));
  try {
    const server = await startServer({ v1: false, args: ['--data-dir', dataDir, '--embedded-broker-port', '0', '--http-port', '0', '--open-enrolment', ...serverArgs] });
    return serverOn('embedded', 'embedded postgresql + embedded broker (open enrolment)', provisioningOf(server),
      () => ({ brokerUrl: server.brokerUrl, timeoutMs: 20_000 }),
      () => ({ brokerUrl: server.brokerUrl }),
      async () => undefined,
      (args) => operatorCommand(['--data-dir', dataDir], args),
      async () => {
        await server.stop();
        fs.rmSync(dataDir, { recursive: true, force: true });
      });
  } catch (error) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

export const realV2Servers = [
  { kind: 'postgresql', start: startRealPostgres },
  { kind: 'embedded', start: startRealEmbedded },
] as const;
