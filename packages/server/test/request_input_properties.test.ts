import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { encodeBase64url as b64, generateKeyPair, wireV1, wireV2, type KeyPair } from '@x3dh-iot/protocol';
import { preKeyBatch, TEST_DEPLOYMENT_ID } from '@x3dh-iot/testkit';
import fc from 'fast-check';
import { pino } from 'pino';
import { parseServerConfig } from '../src/index.js';
import { ServerMetrics } from '../src/ops/metrics.js';
import { BatchExecutor } from '../src/processing/batch_executor.js';
import { RequestDispatcher } from '../src/processing/request_dispatcher.js';
import type { Database } from '../src/storage/database.js';
import type { InboundRequest } from '../src/transport/request_channel.js';
import { V1Protocol } from '../src/v1/v1_protocol.js';
import { OperatorIdentity } from '../src/v2/operator_identity.js';
import { V2Protocol } from '../src/v2/v2_protocol.js';
import { targetBucket } from '../src/v2/v2_settings.js';
import { databaseBackends } from './support/database_backends.js';
import { mutatedPayload, v1Cases, validV2Bodies } from './support/request_inputs.js';
import { registerBundle, registerIdentity } from './support/v1_fixtures.js';

/**
 * Any input to any v1 or v2 request schema is answered with a defined error or a success, never
 * with a server failure (v2 `internal`, v1 500) and never with an error in the server's log: bad
 * input is refused at the schema, not by the database. Driven through the request dispatcher on
 * the real stores; v2 requests are signed by enrolled devices, so that they reach the operations.
 */

const RUNS = 25;

interface Signer { name: string; identity: KeyPair }

const operator = new OperatorIdentity(generateKeyPair().privateKey, TEST_DEPLOYMENT_ID);

// PostgreSQL only: the schemas refuse bad input before any store sees it, so one store is enough.
for (const backend of databaseBackends('inputs').filter((b) => b.name === 'PostgreSQL')) {
  describe(`every request schema on ${backend.name}`, { timeout: 120_000 }, () => {
    let database: Database;
    let close: () => Promise<void>;
    let dispatcher: RequestDispatcher;
    const serverErrors: string[] = [];
    const waiting = new Map<InboundRequest, (body: string) => void>();

    const send = (request: InboundRequest): Promise<string> => new Promise((resolve) => {
      waiting.set(request, resolve);
      dispatcher.handle(request);
    });
    const signed = (signer: Signer, operation: wireV2.V2Operation, payload: Buffer): InboundRequest => {
      const requestId = randomBytes(wireV2.REQUEST_ID_BYTES);
      const timestamp = Date.now();
      const signature = wireV2.signRequest(signer.identity.privateKey, {
        deploymentId: operator.deploymentId, operation, device: signer.name, requestId: new Uint8Array(requestId), timestamp, payload: new Uint8Array(payload),
      });
      return {
        topic: wireV2.requestTopic(signer.name, operation), payload, responseTopic: wireV2.responseTopic(signer.name),
        correlationData: requestId,
        userProperties: {
          [wireV2.TIMESTAMP_PROPERTY]: String(timestamp), [wireV2.SIGNATURE_PROPERTY]: b64(signature), [wireV2.DEPLOYMENT_PROPERTY]: operator.deploymentId,
        },
      };
    };
    const v2 = async (signer: Signer, operation: wireV2.V2Operation, body: unknown) =>
      JSON.parse(await send(signed(signer, operation, Buffer.from(JSON.stringify(body))))) as { ok: boolean; error?: { code: string } };
    const device = (stem: string): Signer => ({ name: `${stem}-${randomBytes(4).toString('hex')}`, identity: generateKeyPair() });
    const enrolled = async (stem: string): Promise<Signer> => {
      const signer = device(stem);
      assert.ok((await v2(signer, 'enroll', { identity_key: b64(signer.identity.publicKey) })).ok);
      const upload = preKeyBatch(signer, { signedPreKeyId: 1, firstOneTimePreKeyId: 1, count: 50 }).body;
      assert.ok((await v2(signer, 'prekeys.upload', upload)).ok);
      return signer;
    };

    before(async () => {
      ({ database, close } = await backend.open({ migrated: true }));
      const log = pino({ level: 'warn' }, {
        write: (line: string) => { if ((JSON.parse(line) as { level: number }).level >= 50) serverErrors.push(line); },
      });
      const config = parseServerConfig(['--open-enrolment', '--fetch-burst', '1000']);
      const executor = new BatchExecutor(database, { maxBatchSize: 16, maxConcurrentBatches: database.maxConcurrency }, log);
      dispatcher = new RequestDispatcher(
        [new V2Protocol(config, operator), new V1Protocol(config.maxPayloadBytes, targetBucket(config))], executor,
        { reply: (request, body) => { waiting.get(request)?.(body); waiting.delete(request); }, publish: () => {} },
        // Many mutated requests per device in a moment: no per-device limit in the way.
        { perDevice: { perSecond: 1e9, burst: 1e9 }, deviceQueue: 1e6 },
        new ServerMetrics(async () => 0), log);
    });
    after(async () => { await close?.(); });

    test('attack: mutated v2 requests of every operation, signed by enrolled devices, never get internal', async () => {
      serverErrors.length = 0;
      const requester = await enrolled('requester');
      const target = await enrolled('target');
      // Operations that change who the device is get a signer of their own.
      const signers: Partial<Record<wireV2.V2Operation, Signer>> = {
        'enroll': device('enroller'), 'identity.rotate': await enrolled('rotator'), 'device.delete': await enrolled('deleter'),
      };
      const peers = { target: target.name, stranger: 'nobody-holds-this-name' };
      const examples: Partial<Record<wireV2.V2Operation, string[]>> = {
        'mailbox.fetch': ['{"after":"9999999999999999999"}', '{"after":"9223372036854775808","limit":1}'],
        'mailbox.ack': ['{"ids":["18446744073709551616"]}', '{"ids":["1","9999999999999999999"]}'],
      };
      for (const operation of wireV2.V2_OPERATIONS) {
        const signer = signers[operation] ?? requester;
        const valid = validV2Bodies(signer.identity, signer.name, peers)[operation];
        await fc.assert(fc.asyncProperty(mutatedPayload(valid), async (payload) => {
          const reply = JSON.parse(await send(signed(signer, operation, payload))) as { ok: boolean; error?: { code: string } };
          if (reply.ok) return;
          assert.ok(wireV2.ERROR_CODES.includes(reply.error!.code as wireV2.ErrorCode), `undefined code ${reply.error!.code}`);
          assert.notEqual(reply.error!.code, 'internal', `${operation} ${payload.toString()}`);
          assert.notEqual(reply.error!.code, 'unavailable', `${operation} ${payload.toString()}`);
        }), { numRuns: RUNS, examples: (examples[operation] ?? []).map((text): [Buffer] => [Buffer.from(text)]) });
      }
      assert.deepEqual(serverErrors, []);
    });

    test('attack: mutated v1 requests of every operation never get a server failure', async () => {
      serverErrors.length = 0;
      const user = `user-${randomBytes(4).toString('hex')}`;
      const peer = `peer-${randomBytes(4).toString('hex')}`;
      const v1 = async (topic: string, payload: string | Buffer) => JSON.parse(await send({
        topic, payload: Buffer.from(payload), responseTopic: wireV1.V1_TOPICS.response,
        correlationData: Buffer.from(String(Math.floor(Math.random() * 2 ** 32))), userProperties: {},
      })) as { error?: string; code?: number };
      assert.ok(!('error' in await v1(wireV1.V1_TOPICS.registerIdentity, registerIdentity(user))));
      assert.ok(!('error' in await v1(wireV1.V1_TOPICS.registerBundle, registerBundle(user))));
      for (const { operation, topic, valid } of v1Cases(user, peer)) {
        await fc.assert(fc.asyncProperty(topic, mutatedPayload(valid), async (to, payload) => {
          const reply = await v1(to, payload);
          assert.ok(reply.code !== 500 && reply.code !== 503, `${operation} on ${to}: ${payload.toString()} got ${JSON.stringify(reply)}`);
        }), { numRuns: RUNS });
      }
      assert.deepEqual(serverErrors, []);
    });
  });
}
