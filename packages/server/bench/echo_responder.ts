import fs from 'node:fs';
import { connectMqtt } from '@x3dh-iot/transport';

/**
 * A bare responder: answers every request on `bench/echo/#` with a fixed reply, no database.
 * Its rate is the ceiling of broker plus clients on this machine. Usage: echo_responder.ts URL [CA_FILE]
 */
const [url, caFile] = process.argv.slice(2);
const client = await connectMqtt({ url: url!, ca: caFile ? fs.readFileSync(caFile) : undefined, clientId: 'bench-echo' });
client.on('error', () => {});
const reply = Buffer.from('{"status":"ok"}');
client.on('message', (_topic, _payload, packet) => {
  const responseTopic = packet.properties?.responseTopic;
  if (!responseTopic) return;
  client.publish(responseTopic, reply, {
    qos: 1, properties: { correlationData: packet.properties?.correlationData, contentType: 'application/json' },
  });
});
await client.subscribeAsync('bench/echo/#', { qos: 1 });
process.stdout.write('ready\n');
process.on('SIGTERM', () => void client.endAsync().then(() => process.exit(0)));
