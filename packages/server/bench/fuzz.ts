/**
 * Fuzz run of the key server (not a test): sends mutated requests of every v1 and v2 operation
 * through a real broker (Mosquitto, TLS 1.3) to a real server process on PostgreSQL, and prints the
 * replies by code, the server's resident memory before and after, the error lines it logged, and
 * whether a legitimate v2 and v1 flow still works afterwards.
 *
 *   npm run fuzz:server -- --requests 100000 --window 128
 *
 * The v2 requests are signed by enrolled devices, so that they reach the operations; one in ten is
 * also forged at the MQTT level (signature or time missing or wrong, another device's topic, an
 * unknown operation). The mutations are those of the property tests (test/support/request_inputs.ts).
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Command, Option } from 'commander';
import fc from 'fast-check';
import { encodeBase64url as b64, generateKeyPair, wireV1, wireV2, xeddsaSigningKey, type KeyPair } from '@x3dh-iot/protocol';
import { connectMqtt } from '@x3dh-iot/transport';
import {
  closeV1Device, connectV1Device, createTestDatabase, enrolV2Device, preKeyBatch, requestJson, startMosquitto, startServer, TEST_DEPLOYMENT_ID,
} from '@x3dh-iot/testkit';
import { mutatedPayload, v1Cases, validV2Bodies } from '../test/support/request_inputs.js';
import { registerBundle, registerIdentity } from '../test/support/v1_fixtures.js';

const options = new Command('fuzz')
  .addOption(new Option('--requests <n>', 'mutated requests to send').argParser(Number).default(100_000))
  .addOption(new Option('--window <n>', 'requests in flight at once').argParser(Number).default(128))
  .addOption(new Option('--pool <n>', 'distinct mutated payloads generated per operation (each sent several times, freshly signed)')
    .argParser(Number).default(1500))
  .addOption(new Option('--seed <n>', 'fast-check seed of the mutations').argParser(Number).default(15))
  .parse().opts<{ requests: number; window: number; pool: number; seed: number }>();

const REPLY_TIMEOUT_MS = 20_000;

const rssMiB = (pid: number): number => {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
};

interface Signer { name: string; identity: KeyPair; signingKey: ReturnType<typeof xeddsaSigningKey> }
const signer = (name: string, identity: KeyPair): Signer => ({ name, identity, signingKey: xeddsaSigningKey(identity.privateKey) });

/** One request to publish: topic, payload and MQTT 5 properties. */
interface Outgoing { topic: string; payload: Buffer; correlation: Buffer; responseTopic: string; userProperties?: Record<string, string> }

/** MQTT-level forgeries of a signed v2 request (the payload mutations come on top). */
const FORGERIES = ['no signature', 'no time', 'stale time', 'bad time text', 'other device topic', 'unknown operation'] as const;

function signedV2(from: Signer, operation: wireV2.V2Operation, payload: Buffer, forgery: (typeof FORGERIES)[number] | null,
  other: string): Outgoing {
  const requestId = randomBytes(wireV2.REQUEST_ID_BYTES);
  const timestamp = Date.now() - (forgery === 'stale time' ? 3_600_000 : 0);
  const signature = wireV2.signRequestWith(from.signingKey, {
    deploymentId: TEST_DEPLOYMENT_ID, operation, device: from.name, requestId: new Uint8Array(requestId), timestamp, payload: new Uint8Array(payload),
  });
  const userProperties: Record<string, string> = {
    [wireV2.DEPLOYMENT_PROPERTY]: TEST_DEPLOYMENT_ID,
    [wireV2.TIMESTAMP_PROPERTY]: forgery === 'bad time text' ? '12e3' : String(timestamp),
    [wireV2.SIGNATURE_PROPERTY]: b64(signature),
  };
  if (forgery === 'no signature') delete userProperties[wireV2.SIGNATURE_PROPERTY];
  if (forgery === 'no time') delete userProperties[wireV2.TIMESTAMP_PROPERTY];
  const topic = forgery === 'other device topic' ? wireV2.requestTopic(other, operation)
    : forgery === 'unknown operation' ? `${wireV2.V2_TOPIC_PREFIX}/req/${from.name}/${operation}.x` : wireV2.requestTopic(from.name, operation);
  return { topic, payload, correlation: requestId, responseTopic: wireV2.responseTopic(from.name), userProperties };
}

async function main(): Promise<void> {
  const database = await createTestDatabase('x3dh_fuzz');
  const broker = await startMosquitto({ tls: true });
  const ca = broker.certificates!.ca;
  const server = await startServer({
    args: ['--broker-url', broker.url, '--broker-ca', broker.certificates!.caFile, '--database-url', database.url,
      '--http-port', '0', '--open-enrolment', '--fetch-burst', '1000000000', '--fetch-interval', '1'],
  });
  const pid = server.process.pid!;
  try {
    // Devices the v2 requests are signed by: a requester, a target with a bundle, and one each for
    // the operations that change who a device is (enrol, rotate, delete), so the rest keep working.
    const connect = (name: string, identity: KeyPair) => enrolV2Device({ brokerUrl: broker.url, ca, name, identity, oneTimePreKeys: 100 });
    const named = async (stem: string) => {
      const identity = generateKeyPair();
      const name = `${stem}-${randomBytes(3).toString('hex')}`;
      await (await connect(name, identity)).close();
      return signer(name, identity);
    };
    const requester = await named('fuzz-requester');
    const target = await named('fuzz-target');
    const signers: Partial<Record<wireV2.V2Operation, Signer>> = {
      'enroll': signer(`fuzz-enroller-${randomBytes(3).toString('hex')}`, generateKeyPair()),
      'identity.rotate': await named('fuzz-rotator'),
      'device.delete': await named('fuzz-deleter'),
    };
    const v1User = `fuzz-v1-${randomBytes(3).toString('hex')}`;
    const v1Setup = await connectV1Device(broker.url, { ca });
    await requestJson(v1Setup, wireV1.V1_TOPICS.registerIdentity, registerIdentity(v1User));
    await requestJson(v1Setup, wireV1.V1_TOPICS.registerBundle, registerBundle(v1User));
    await closeV1Device(v1Setup);

    // Pools of mutated payloads, generated once (fast-check generation costs more than a request).
    const started = performance.now();
    const peers = { target: target.name, stranger: 'nobody-holds-this-name' };
    const v2Pools = wireV2.V2_OPERATIONS.map((operation) => {
      const from = signers[operation] ?? requester;
      const valid = validV2Bodies(from.identity, from.name, peers)[operation];
      return { operation, from, payloads: fc.sample(mutatedPayload(valid), { numRuns: options.pool, seed: options.seed }) };
    });
    const v1Pools = v1Cases(v1User, 'fuzz-peer').map(({ operation, topic, valid }) => ({
      operation, samples: fc.sample(fc.tuple(topic, mutatedPayload(valid)), { numRuns: Math.ceil(options.pool / 2), seed: options.seed }),
    }));
    console.log(`mutations generated in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const client = await connectMqtt({ url: broker.url, ca, clientId: `fuzz-${randomBytes(4).toString('hex')}` });
    client.on('error', () => {});
    const v1Response = `x3dh/resp/fuzz-${randomBytes(3).toString('hex')}`;
    await client.subscribeAsync([v1Response, ...[requester, target, ...Object.values(signers)].map((s) => wireV2.responseTopic(s!.name))],
      { qos: 1 });

    const codes = new Map<string, number>();
    const count = (code: string) => codes.set(code, (codes.get(code) ?? 0) + 1);
    const waiting = new Map<string, { protocol: 'v1' | 'v2'; done: () => void; timer: NodeJS.Timeout }>();
    client.on('message', (_topic, payload, packet) => {
      const key = packet.properties?.correlationData?.toString('hex');
      const entry = key === undefined ? undefined : waiting.get(key);
      if (entry === undefined) return;
      waiting.delete(key!);
      clearTimeout(entry.timer);
      let reply: { ok?: boolean; error?: { code: string } | string; code?: number };
      try {
        reply = JSON.parse(payload.toString('utf8')) as typeof reply;
      } catch {
        reply = {};
      }
      if (entry.protocol === 'v2') count(`v2 ${reply.ok ? 'ok' : (reply.error as { code?: string } | undefined)?.code ?? 'unparsable'}`);
      else count(`v1 ${typeof reply.error === 'string' ? `error ${reply.code ?? 400}` : 'ok'}`);
      entry.done();
    });

    const rssBefore = rssMiB(pid);
    const pick = (n: number) => Math.floor(Math.random() * n);
    const send = (k: number): Promise<void> => new Promise((resolve) => {
      let outgoing: Outgoing;
      let protocol: 'v1' | 'v2';
      if (k % 4 === 3) {
        protocol = 'v1';
        const pool = v1Pools[pick(v1Pools.length)]!;
        const [topic, payload] = pool.samples[pick(pool.samples.length)]!;
        outgoing = { topic, payload, correlation: Buffer.from(`${k}`, 'ascii'), responseTopic: v1Response };
      } else {
        protocol = 'v2';
        const pool = v2Pools[pick(v2Pools.length)]!;
        const forgery = pick(10) === 0 ? FORGERIES[pick(FORGERIES.length)]! : null;
        outgoing = signedV2(pool.from, pool.operation, pool.payloads[pick(pool.payloads.length)]!, forgery, target.name);
      }
      const key = outgoing.correlation.toString('hex');
      const timer = setTimeout(() => {
        waiting.delete(key);
        count(`${protocol} no reply`);
        resolve();
      }, REPLY_TIMEOUT_MS);
      waiting.set(key, { protocol, done: resolve, timer });
      client.publish(outgoing.topic, outgoing.payload, {
        qos: 1, properties: { responseTopic: outgoing.responseTopic, correlationData: outgoing.correlation, userProperties: outgoing.userProperties },
      });
    });

    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: options.window }, async () => {
      while (next < options.requests) {
        const k = next++;
        await send(k);
        if (k > 0 && k % 20_000 === 0) console.log(`  ${k} sent, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    await client.endAsync();
    const rssAfter = rssMiB(pid);

    console.log(`\n${options.requests} mutated requests in ${seconds.toFixed(1)} s (${(options.requests / seconds).toFixed(0)}/s), window ${options.window}`);
    console.log('replies by code:');
    for (const [code, n] of [...codes].sort((a, b) => b[1] - a[1])) console.log(`  ${code.padEnd(28)} ${n}`);
    console.log(`server RSS: ${rssBefore.toFixed(1)} MiB before, ${rssAfter.toFixed(1)} MiB after`);
    const errorLines = server.logs.filter((line) => (line.level as number) >= 50);
    console.log(`server error log lines: ${errorLines.length}`);
    for (const line of errorLines.slice(0, 5)) console.log(`  ${JSON.stringify(line).slice(0, 300)}`);

    // A legitimate flow after the fuzz: two fresh v2 devices agree and exchange a message; a v1 device registers and is fetched.
    const alice = await enrolV2Device({ brokerUrl: broker.url, ca, name: `after-alice-${randomBytes(3).toString('hex')}` });
    const bob = await enrolV2Device({ brokerUrl: broker.url, ca, name: `after-bob-${randomBytes(3).toString('hex')}` });
    const steps: [string, () => Promise<boolean>][] = [
      ['v2 bundle.fetch', async () => (await alice.request('bundle.fetch', { device: bob.name })).ok],
      ['v2 message.send', async () => (await alice.request('message.send', {
        to: bob.name, id: b64(randomBytes(16)), type: 'session', envelope: b64(randomBytes(40)),
      })).ok],
      ['v2 mailbox.fetch + ack', async () => {
        const fetched = await bob.request('mailbox.fetch', {});
        const messages = fetched.ok ? fetched.result.messages as { id: string }[] : [];
        return messages.length === 1 && (await bob.request('mailbox.ack', { ids: [messages[0]!.id] })).ok;
      }],
      ['v2 prekeys.upload', async () => (await bob.request('prekeys.upload',
        preKeyBatch(bob, { firstOneTimePreKeyId: 500, count: 5 }).body)).ok],
      ['v1 register + bundle', async () => {
        const v1 = await connectV1Device(broker.url, { ca });
        const user = `after-v1-${randomBytes(3).toString('hex')}`;
        await requestJson(v1, wireV1.V1_TOPICS.registerIdentity, registerIdentity(user));
        await requestJson(v1, wireV1.V1_TOPICS.registerBundle, registerBundle(user));
        const bundle = await requestJson(v1, wireV1.bundleTopic(user)) as { opk_id?: number };
        await closeV1Device(v1);
        return bundle.opk_id === 0;
      }],
    ];
    const results: string[] = [];
    for (const [name, step] of steps) results.push(`${name}: ${await step().catch(() => false) ? 'ok' : 'FAILED'}`);
    await Promise.all([alice.close(), bob.close()]);
    console.log(`legitimate flow after the fuzz: ${results.join(', ')}`);
    if (results.some((r) => r.endsWith('FAILED')) || errorLines.length > 0 || codes.has('v2 internal') || codes.has('v1 error 500')) {
      process.exitCode = 1;
    }
  } finally {
    await server.stop();
    await broker.stop();
    await database.drop();
  }
}

await main();
