import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestCertificates, createTestDatabase, startPrivatePostgres, type PrivatePostgres, type TestCertificates } from '@x3dh-iot/testkit';
import { createLogger, parseServerConfig, startKeyServer } from '../src/index.js';
import { checkBrokerUrl, PlainTextRefusedError } from '../src/plain_text_policy.js';
import { databaseTls } from '../src/storage/database_tls.js';
import { PostgresDatabase } from '../src/storage/postgres_database.js';

const log = createLogger(process.env.X3DH_TEST_LOG_LEVEL ?? 'fatal');

/** An address of this machine beyond loopback (what a broker or database on another host would be). */
function externalAddress(): string | undefined {
  return Object.values(os.networkInterfaces()).flat().find((address) => address?.family === 'IPv4' && !address.internal)?.address;
}

/** A listener standing for whoever is on the network path: resolves with the first bytes sent to it. */
async function eavesdropper(host: string): Promise<{ port: number; firstBytes: Promise<Buffer>; close(): void }> {
  const sockets: net.Socket[] = [];
  let heard!: (bytes: Buffer) => void;
  const firstBytes = new Promise<Buffer>((resolve) => (heard = resolve));
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.once('data', heard);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    firstBytes,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** Starts a key server and reports whether it refused to start, or sent bytes to the eavesdropper first. */
async function startOrLeak(args: string[], listener: { firstBytes: Promise<Buffer> }): Promise<Error | string> {
  const started = startKeyServer(parseServerConfig([...args, '--http-port', '0']), log);
  return Promise.race([
    started.then(async (server) => {
      await server.close();
      return 'started';
    }, (error: Error) => error),
    listener.firstBytes.then((bytes) => `sent ${bytes.length} bytes in the clear`),
  ]);
}

const host = externalAddress();

describe('plain-text connections beyond loopback', { skip: host ? false : 'no address beyond loopback on this machine', timeout: 60_000 }, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  before(async () => {
    database = await createTestDatabase('x3dh_plaintext');
  });
  after(() => database?.drop());

  it('attack: the key server sends nothing in the clear to an mqtt:// or amqp:// broker beyond loopback', async () => {
    for (const [flag, scheme] of [['--broker-url', 'mqtt'], ['--amqp-url', 'amqp']] as const) {
      const listener = await eavesdropper(host!);
      try {
        const outcome = await startOrLeak([flag, `${scheme}://${host}:${listener.port}`, '--database-url', database.url], listener);
        assert.ok(outcome instanceof PlainTextRefusedError, String(outcome));
        assert.match(outcome.message, new RegExp(`${flag} ${scheme}://.*plain text.*--allow-insecure-broker`));
      } finally {
        listener.close();
      }
    }
  });

  it('attack: the key server sends nothing in the clear to a database beyond loopback', async () => {
    const listener = await eavesdropper(host!);
    try {
      const outcome = await startOrLeak(['--database-url', `postgresql://x3dh:secret@${host}:${listener.port}/x3dh`, '--embedded-broker-port', '0'], listener);
      assert.ok(outcome instanceof PlainTextRefusedError, String(outcome));
      assert.match(outcome.message, /--database-ca/);
    } finally {
      listener.close();
    }
  });

  it('plain text stays allowed on loopback, and beyond it when the operator says so', () => {
    for (const url of ['mqtt://127.0.0.1:1884', 'mqtt://localhost:1884', 'mqtt://[::1]:1884', 'amqp://u:p@127.0.0.1/x3dh', 'mqtts://broker.example:8883', 'amqps://rabbitmq:5671/x3dh']) {
      assert.doesNotThrow(() => checkBrokerUrl(url, false, '--broker-url'), url);
    }
    assert.throws(() => checkBrokerUrl('mqtt://broker.example:1883', false, '--broker-url'), PlainTextRefusedError);
    assert.doesNotThrow(() => checkBrokerUrl('mqtt://broker.example:1883', true, '--broker-url'));
    const noFiles = { caFile: undefined, certFile: undefined, keyFile: undefined };
    assert.throws(() => databaseTls('postgresql://u@db.example/x3dh?sslmode=no-verify', noFiles, false), PlainTextRefusedError);
    assert.equal(databaseTls('postgresql://u@db.example/x3dh', noFiles, true), undefined);
    assert.equal(databaseTls('postgresql://u@127.0.0.1/x3dh', noFiles, false), undefined);
  });
});

describe('PostgreSQL over TLS with certificate verification', { timeout: 120_000 }, () => {
  let certificates: TestCertificates;
  let foreign: TestCertificates;
  let postgres: PrivatePostgres;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-db-tls-'));
  before(async () => {
    certificates = createTestCertificates(path.join(dir, 'ca'));
    foreign = createTestCertificates(path.join(dir, 'foreign'));
    postgres = await startPrivatePostgres({ tls: { certFile: certificates.server.certFile, keyFile: certificates.server.keyFile } });
  });
  after(async () => {
    await postgres?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Whether the store's connection is encrypted, as the database sees it. */
  const encrypted = async (url: string, caFile: string | undefined) => {
    const database = new PostgresDatabase({ url, ssl: databaseTls(url, { caFile, certFile: undefined, keyFile: undefined }, false), poolSize: 1, connectTimeoutMs: 10_000 }, log);
    try {
      const rows = await database.transaction((sql) => sql.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'));
      return rows[0]!.ssl;
    } finally {
      await database.close();
    }
  };

  it('connects with TLS when given the CA, by --database-ca or by sslmode=verify-full in the URL', async () => {
    assert.equal(await encrypted(postgres.url, certificates.caFile), true);
    assert.equal(await encrypted(`${postgres.url}?sslmode=verify-full&sslrootcert=${certificates.caFile}`, undefined), true);
  });

  it('refuses a database whose certificate does not chain to the CA given', async () => {
    await assert.rejects(encrypted(postgres.url, foreign.caFile), /certificate/i);
  });

  it('refuses --database-ca beside TLS settings in the URL', () => {
    assert.throws(() => databaseTls(`${postgres.url}?sslmode=disable`, { caFile: certificates.caFile, certFile: undefined, keyFile: undefined }, false), /exclude each other/);
  });
});
