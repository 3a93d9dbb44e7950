import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MqttRequester } from '@x3dh-iot/transport';
import {
  closeV1Device, connectV1Device, createTestDatabase, startMosquitto, type MosquittoBroker, type TestDatabase,
} from '@x3dh-iot/testkit';
import { createLogger, parseServerConfig, startKeyServer, type KeyServer } from '../../src/index.js';

/** A running key server with its broker and store, and a way to connect v1 devices to it. */
export interface Environment {
  readonly brokerUrl: string;
  readonly ca: string | undefined;
  readonly server: KeyServer;
  /** Starts one more server replica on the same broker and store (PostgreSQL only). */
  addReplica(): Promise<KeyServer>;
  device(): Promise<MqttRequester>;
  close(): Promise<void>;
}

const quiet = () => createLogger(process.env.X3DH_TEST_LOG_LEVEL ?? 'warn');

/** PostgreSQL (fresh database) and Mosquitto over TLS 1.3, served by in-process server(s). */
export async function startPostgresEnvironment(): Promise<Environment> {
  const database: TestDatabase = await createTestDatabase();
  let broker: MosquittoBroker | undefined;
  const servers: KeyServer[] = [];
  const devices: MqttRequester[] = [];
  try {
    broker = await startMosquitto({ tls: true });
    const args = ['--broker-url', broker.url, '--broker-ca', broker.certificates!.caFile,
      '--database-url', database.url, '--http-port', '0', '--enable-v1'];
    const startReplica = async () => {
      const server = await startKeyServer(parseServerConfig([...args, '--client-id', `test-server-${servers.length}`]), quiet());
      servers.push(server);
      return server;
    };
    const first = await startReplica();
    const b = broker;
    return {
      brokerUrl: b.url,
      ca: b.certificates!.ca,
      server: first,
      addReplica: startReplica,
      device: async () => {
        const device = await connectV1Device(b.url, { ca: b.certificates!.ca });
        devices.push(device);
        return device;
      },
      close: async () => {
        await Promise.all(devices.map(closeV1Device));
        for (const server of servers) await server.close();
        await b.stop();
        await database.drop();
      },
    };
  } catch (error) {
    for (const server of servers) await server.close();
    await broker?.stop();
    await database.drop();
    throw error;
  }
}

/** The embedded PostgreSQL in a temporary data directory and the embedded broker, in one in-process server. */
export async function startEmbeddedEnvironment(): Promise<Environment> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-embedded-'));
  const devices: MqttRequester[] = [];
  const server = await startKeyServer(parseServerConfig([
    '--data-dir', dataDir, '--embedded-broker-port', '0', '--http-port', '0', '--enable-v1',
  ]), quiet());
  return {
    brokerUrl: server.brokerUrl,
    ca: undefined,
    server,
    addReplica: () => Promise.reject(new Error('the embedded store serves one server process')),
    device: async () => {
      const device = await connectV1Device(server.brokerUrl);
      devices.push(device);
      return device;
    },
    close: async () => {
      await Promise.all(devices.map(closeV1Device));
      await server.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const environments = [
  { name: 'postgresql + mosquitto (TLS 1.3)', start: startPostgresEnvironment },
  { name: 'embedded postgresql + embedded broker', start: startEmbeddedEnvironment },
] as const;
