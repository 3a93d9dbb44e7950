import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { encodeBase64url as b64, generateKeyPair, wireV2, xeddsaSigningKey } from '@x3dh-iot/protocol';
import { TEST_DEPLOYMENT_ID } from '@x3dh-iot/testkit';
import { connectMqtt } from '@x3dh-iot/transport';

/**
 * A device flooding the key server, for bench/fairness.bench.ts: publishes v2 requests under its
 * own name as fast as the broker acknowledges them (WINDOW unacknowledged at a time), alternately
 * malformed JSON and well-formed requests signed by a key that is not the device's, each with a
 * fresh request id. On SIGTERM it prints what it sent and the replies by code, as one JSON line.
 * Usage: flooder.ts URL CA_FILE|- DEVICE WINDOW [DEPLOYMENT_ID]
 */
const [url, caFile, device, windowText, deploymentArg] = process.argv.slice(2);
const deploymentId = deploymentArg ?? TEST_DEPLOYMENT_ID;
const window = Number(windowText);
const client = await connectMqtt({ url: url!, ca: caFile && caFile !== '-' ? fs.readFileSync(caFile) : undefined, clientId: device! });
client.on('error', () => {});

const replies: Record<string, number> = {};
client.on('message', (_topic, payload) => {
  const code = /"code":"([a-z_]+)"/.exec(payload.toString('utf8'))?.[1] ?? 'ok';
  replies[code] = (replies[code] ?? 0) + 1;
});
const responseTopic = wireV2.responseTopic(device!);
await client.subscribeAsync(responseTopic, { qos: 1 });

// One signature by a wrong key serves every mis-signed request: it verifies for none of them.
const timestamp = Date.now();
const wellFormed = Buffer.from('{}');
const signature = b64(wireV2.signRequestWith(xeddsaSigningKey(generateKeyPair().privateKey), {
  deploymentId, operation: 'mailbox.fetch', device: device!, requestId: new Uint8Array(16), timestamp, payload: wellFormed,
}));
const malformed = Buffer.from('{"limit": "many"');
const topic = wireV2.requestTopic(device!, 'mailbox.fetch');
const userProperties = {
  [wireV2.TIMESTAMP_PROPERTY]: String(timestamp), [wireV2.SIGNATURE_PROPERTY]: signature, [wireV2.DEPLOYMENT_PROPERTY]: deploymentId,
};

let sent = 0;
let outstanding = 0;
let stopping = false;
const publishMore = (): void => {
  while (!stopping && outstanding < window) {
    outstanding += 1;
    sent += 1;
    client.publish(topic, sent % 2 === 0 ? wellFormed : malformed, {
      qos: 1, properties: { responseTopic, correlationData: randomBytes(16), userProperties },
    }, () => {
      outstanding -= 1;
      // Refill after the acknowledgements of this turn, not one publish per acknowledgement.
      if (outstanding === window - 64 || outstanding === 0) setImmediate(publishMore);
    });
  }
};
const started = performance.now();
publishMore();
process.stdout.write('flooding\n');

process.on('SIGTERM', () => {
  stopping = true;
  const seconds = (performance.now() - started) / 1000;
  // Replies still on their way are counted for a moment.
  setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ sent, seconds, replies })}\n`);
    void client.endAsync().then(() => process.exit(0));
  }, 1000);
});
