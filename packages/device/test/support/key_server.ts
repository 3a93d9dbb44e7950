import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, startMosquitto, startServer } from '@x3dh-iot/testkit';

export interface RunningKeyServer {
  /** Environment variables that point the device CLI at this server's broker. */
  deviceEnv: Record<string, string>;
  stop(): Promise<void>;
}

/** The production setup: Mosquitto with TLS 1.3 and the key server on a fresh PostgreSQL database. */
export async function startMosquittoAndPostgres(): Promise<RunningKeyServer> {
  const broker = await startMosquitto();
  const database = await createTestDatabase('x3dh_device');
  try {
    const server = await startServer({
      args: ['--broker-url', broker.url, '--broker-ca', broker.certificates!.caFile, '--database-url', database.url, '--http-port', '0'],
    });
    return {
      deviceEnv: { X3DH_BROKER_URL: broker.url, X3DH_CA_FILE: broker.certificates!.caFile },
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

/** The key server on its embedded defaults: its own MQTT broker and PGlite, on free ports and a temporary data directory. */
export async function startEmbedded(): Promise<RunningKeyServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'x3dh-device-embedded-'));
  const server = await startServer({ args: ['--embedded-broker-port', '0', '--http-port', '0', '--data-dir', dataDir] });
  return {
    deviceEnv: { X3DH_BROKER_URL: server.brokerUrl },
    stop: async () => {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
