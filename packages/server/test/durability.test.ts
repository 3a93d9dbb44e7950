import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { wireV1 } from '@x3dh-iot/protocol';
import {
  closeV1Device, connectV1Device, createTestDatabase, freePort, requestJson, startMosquitto, startServer,
  ServerStartError, type MosquittoBroker, type ServerProcess, type TestDatabase,
} from '@x3dh-iot/testkit';
import { chatMessage, initialMessage, registerBundle, registerIdentity, uniqueName } from './support/v1_fixtures.js';

const T = wireV1.V1_TOPICS;

interface Backend {
  name: string;
  /** The server runs its own PostgreSQL, which outlives a kill -9 of the server. */
  embedded: boolean;
  setUp(): Promise<{ args: string[]; ca?: string; tearDown(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'postgresql + mosquitto (TLS 1.3)',
    embedded: false,
    async setUp() {
      const database: TestDatabase = await createTestDatabase();
      const broker: MosquittoBroker = await startMosquitto({ tls: true });
      return {
        args: ['--database-url', database.url, '--broker-url', broker.url, '--broker-ca', broker.certificates!.caFile],
        ca: broker.certificates!.ca,
        tearDown: async () => {
          await broker.stop();
          await database.drop();
        },
      };
    },
  },
  {
    name: 'embedded postgresql + embedded broker',
    embedded: true,
    async setUp() {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-durability-'));
      // A fixed port, so that the restarted server's broker is where the devices look.
      const port = await freePort();
      return {
        args: ['--data-dir', dataDir, '--embedded-broker-port', String(port)],
        tearDown: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
      };
    },
  },
];

for (const backend of backends) {
  describe(`durability on ${backend.name}`, { timeout: 120_000 }, () => {
    let setup: Awaited<ReturnType<Backend['setUp']>>;
    let server: ServerProcess | undefined;
    const start = async () => {
      server = await startServer({ args: [...setup.args, '--http-port', '0'] });
      return server;
    };

    before(async () => { setup = await backend.setUp(); });
    after(async () => {
      await server?.stop();
      await setup?.tearDown();
    });

    test('every acknowledged write survives kill -9 of the server', async () => {
      const first = await start();
      const alice = uniqueName('alice');
      const bob = uniqueName('bob');
      const init = initialMessage(bob, alice, 'kept');
      const device = await connectV1Device(first.brokerUrl, { ca: setup.ca });
      try {
        assert.deepEqual(await requestJson(device, T.registerIdentity, registerIdentity(alice)), { status: 'created', username: alice });
        assert.deepEqual(await requestJson(device, T.registerIdentity, registerIdentity(bob)), { status: 'created', username: bob });
        assert.deepEqual(await requestJson(device, T.registerBundle, registerBundle(bob, [3, 4])), { status: 'bundle created' });
        assert.deepEqual(await requestJson(device, T.initialMessage, init), { status: 'delivered' });
        assert.deepEqual(await requestJson(device, T.chatSend, chatMessage(alice, bob, 'also kept')), { status: 'delivered' });
        // Killed right after the last acknowledgement, with no chance to flush or close anything.
        await first.kill();
      } finally {
        await closeV1Device(device);
      }

      const second = await start();
      if (backend.embedded) {
        // The killed server's postmaster was still running on the cluster: stopped before the new one started.
        assert.ok(second.logs.some((entry) => entry.msg === 'stopping the embedded PostgreSQL left running by a server that did not stop'));
      }
      const again = await connectV1Device(second.brokerUrl, { ca: setup.ca });
      try {
        const { users } = await requestJson(again, T.users) as { users: string[] };
        assert.ok(users.includes(alice) && users.includes(bob));
        assert.equal((await requestJson(again, wireV1.bundleTopic(bob)) as { opk_id: number }).opk_id, 3);
        const inbox = await requestJson(again, wireV1.inboxTopic(bob)) as { ciphertext_b64: string };
        assert.equal(inbox.ciphertext_b64, (JSON.parse(init) as { ciphertext_b64: string }).ciphertext_b64);
        const chats = await requestJson(again, T.chatFetch, wireV1.chatFetchPayload(bob, alice)) as unknown[];
        assert.equal(chats.length, 1);
      } finally {
        await closeV1Device(again);
      }
    });
  });
}

test('a second server on the same embedded data directory is refused with a clear message', { timeout: 120_000 }, async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-lock-'));
  const args = ['--data-dir', dataDir, '--embedded-broker-port', '0', '--http-port', '0'];
  const first = await startServer({ args });
  try {
    await assert.rejects(startServer({ args }), (error: unknown) => {
      assert.ok(error instanceof ServerStartError);
      assert.equal(error.exitCode, 1);
      assert.match(error.output, new RegExp(`data directory ${dataDir} is in use by another server \\(pid ${first.process.pid}\\)`));
      return true;
    });
    // The first server still serves.
    const device = await connectV1Device(first.brokerUrl);
    try {
      assert.deepEqual(await requestJson(device, T.users), { users: [] });
    } finally {
      await closeV1Device(device);
    }
  } finally {
    await first.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
