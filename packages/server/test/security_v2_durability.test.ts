import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeBase64url as b64, generateKeyPair, type KeyPair } from '@x3dh-iot/protocol';
import {
  createTestDatabase, enrolV2Device, freePort, preKeyBatch, startMosquitto, startServer, V2TestDevice,
  type MosquittoBroker, type ServerProcess, type TestDatabase, type V2Response,
} from '@x3dh-iot/testkit';
import pg from 'pg';
import { deviceCertificate, uniqueName } from './support/v2_environment.js';

/**
 * security-v2 item 16: every acknowledged request is durable. The server (a child process, as in
 * production) is killed with SIGKILL right after the last acknowledged v2 request and started
 * again on the same store: nothing acknowledged is lost, and resent requests get their first reply.
 */

interface Backend {
  name: string;
  setUp(): Promise<{
    args: string[];
    connect(name: string, identity: KeyPair): Promise<V2TestDevice>;
    enrol(name: string, identity: KeyPair): Promise<V2TestDevice>;
    broker?: MosquittoBroker;
    tearDown(): Promise<void>;
  }>;
}

const backends: Backend[] = [
  {
    name: 'postgresql + mosquitto (TLS 1.3, client certificates)',
    async setUp() {
      const database: TestDatabase = await createTestDatabase();
      const broker = await startMosquitto({ tls: true, requireClientCertificate: true, clientNames: ['x3dh-server'] });
      const certificates = broker.certificates!;
      const pool = new pg.Pool({ connectionString: database.url, max: 1 });
      const connection = (name: string, identity: KeyPair) => ({
        name, identity, brokerUrl: broker.url, ca: certificates.ca, ...deviceCertificate(certificates.dir, name),
      });
      return {
        args: ['--database-url', database.url, '--broker-url', broker.url, '--broker-ca', certificates.caFile,
          '--broker-cert', certificates.clients['x3dh-server']!.certFile, '--broker-key', certificates.clients['x3dh-server']!.keyFile],
        broker,
        connect: (name, identity) => V2TestDevice.connect(connection(name, identity)),
        enrol: async (name, identity) => {
          const token = randomBytes(32).toString('base64url');
          await pool.query('INSERT INTO enrolment_tokens (token_digest) VALUES ($1)', [createHash('sha256').update(token).digest()]);
          return enrolV2Device({ ...connection(name, identity), token, oneTimePreKeys: 5 });
        },
        tearDown: async () => {
          await pool.end();
          await broker.stop();
          await database.drop();
        },
      };
    },
  },
  {
    name: 'embedded postgresql + embedded broker',
    async setUp() {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-v2-durability-'));
      // A fixed port, so that the restarted server's broker is where the devices look.
      const port = await freePort();
      const brokerUrl = `mqtt://127.0.0.1:${port}`;
      return {
        // Open enrolment, explicitly (it is off by default): enrolment tokens are not what this tests.
        args: ['--data-dir', dataDir, '--embedded-broker-port', String(port), '--open-enrolment'],
        connect: (name, identity) => V2TestDevice.connect({ name, identity, brokerUrl }),
        enrol: (name, identity) => enrolV2Device({ name, identity, brokerUrl, oneTimePreKeys: 5 }),
        tearDown: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
      };
    },
  },
];

function result(response: V2Response): Record<string, unknown> {
  if (!response.ok) assert.fail(`expected ok, got ${response.error.code}: ${response.error.message}`);
  return response.result;
}

for (const backend of backends) {
  describe(`security-v2 item 16 on ${backend.name}`, { timeout: 180_000 }, () => {
    let setup: Awaited<ReturnType<Backend['setUp']>>;
    let server: ServerProcess | undefined;
    const devices: V2TestDevice[] = [];
    const start = async () => {
      server = await startServer({ v1: false, args: [...setup.args, '--http-port', '0'] });
      return server;
    };
    before(async () => { setup = await backend.setUp(); });
    after(async () => {
      await Promise.all(devices.map((d) => d.close().catch(() => undefined)));
      await server?.stop();
      await setup?.tearDown();
    });

    test('security-v2 item 16: acknowledged v2 requests survive kill -9 of the server; resent ones get their first reply', async () => {
      const first = await start();
      const aliceKey = generateKeyPair();
      const bobKey = generateKeyPair();
      const alice = await setup.enrol(uniqueName('alice'), aliceKey);
      const bob = await setup.enrol(uniqueName('bob'), bobKey);
      devices.push(alice, bob);
      const fetch = alice.sign('bundle.fetch', { device: bob.name });
      const fetched = result(await alice.send(fetch));
      const sends = [1, 2, 3].map((n) => alice.sign('message.send', {
        to: bob.name, id: randomBytes(16).toString('base64url'), type: 'session', envelope: b64(Buffer.from(`m${n}`)),
      }));
      const sent = [];
      for (const request of sends) sent.push(result(await alice.send(request)));
      result(await bob.request('mailbox.ack', { ids: [sent[0]!.message_id] }));
      result(await alice.request('prekeys.upload', preKeyBatch({ name: alice.name, identity: aliceKey }, { signedPreKeyId: 2, firstOneTimePreKeyId: 6, count: 3 }).body));
      // Killed right after the last acknowledgement, with no chance to flush or close anything.
      await first.kill();
      await Promise.all(devices.splice(0).map((d) => d.close()));

      if (setup.broker) await setup.broker.restart(); // the broker going down too loses nothing
      await start();
      const alice2 = await setup.connect(alice.name, aliceKey);
      const bob2 = await setup.connect(bob.name, bobKey);
      devices.push(alice2, bob2);
      const aliceStatus = result(await alice2.request('prekeys.status'));
      assert.deepEqual([aliceStatus.one_time_prekeys, aliceStatus.signed_prekey_id, aliceStatus.max_one_time_prekey_id], [8, 2, 8]);
      assert.equal(result(await bob2.request('prekeys.status')).one_time_prekeys, 4);
      const mailbox = result(await bob2.request('mailbox.fetch', {})).messages as { id: string; envelope: string }[];
      assert.deepEqual(mailbox.map((m) => Buffer.from(m.envelope, 'base64url').toString()), ['m2', 'm3']);
      assert.deepEqual(mailbox.map((m) => m.id), [sent[1]!.message_id, sent[2]!.message_id]);
      // Resent unchanged (as a client does without a response): the first replies, nothing done twice.
      assert.deepEqual(result(await alice2.send(fetch)), fetched);
      assert.deepEqual(result(await alice2.send(sends[2]!)), sent[2]);
      assert.equal(result(await bob2.request('prekeys.status')).one_time_prekeys, 4);
      assert.equal((result(await bob2.request('mailbox.fetch', {})).messages as unknown[]).length, 2);
      assert.deepEqual(result(await alice2.request('directory.lookup', { device: bob.name })).identity_key, b64(bobKey.publicKey));
    });
  });
}
