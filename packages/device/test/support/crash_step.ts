import { wireV2 } from '@x3dh-iot/protocol';
import { FileKeyStore, type KeyStore, MqttV2Link, provisioningOf, SecureDevice, type V2Link } from '../../src/index.js';

/**
 * One step of a device on a file key store, killed with SIGKILL at a chosen save: `before` kills it
 * after the change was computed (a message decrypted or encrypted on the copy) and before it is
 * saved, `after` once it is saved and before what follows (the acknowledgement, the send).
 * Every mailbox message the step fetches is printed first, one JSON line each.
 * Arguments: store path, broker URL, CA file, send|read|flush, peer, text, none|before|after, save number;
 * provisioned by X3DH_DEPLOYMENT_ID and X3DH_OPERATOR_KEY.
 */
const [path, brokerUrl, caFile, action, peer, text, killMode, killAt] = process.argv.slice(2) as string[];
const inner = await FileKeyStore.open(path!);
let saves = 0;
const store: KeyStore = {
  load: () => inner.load(),
  save: async (state) => {
    saves += 1;
    if (killMode === 'before' && saves === Number(killAt)) process.kill(process.pid, 'SIGKILL');
    await inner.save(state);
    if (killMode === 'after' && saves === Number(killAt)) process.kill(process.pid, 'SIGKILL');
  },
  close: () => inner.close(),
};
const printing = (link: V2Link): V2Link => ({
  ...link,
  listen: (listener) => link.listen(listener),
  close: () => link.close(),
  request: async (request) => {
    const response = await link.request(request);
    if (wireV2.parseRequestTopic(request.topic)?.operation === 'mailbox.fetch') {
      const parsed = JSON.parse(response.payload.toString('utf8')) as { result?: { messages: { id: string; from: string; envelope: string }[] } };
      for (const m of parsed.result?.messages ?? []) process.stdout.write(`${JSON.stringify({ id: m.id, from: m.from, envelope: m.envelope })}\n`);
    }
    return response;
  },
});
const settings = {
  brokerUrl: brokerUrl!, caFile, timeoutMs: 20_000, deploymentId: process.env.X3DH_DEPLOYMENT_ID, operatorKey: process.env.X3DH_OPERATOR_KEY,
};
const device = await SecureDevice.open(store, (name) => printing(new MqttV2Link(settings, name)),
  { client: { timeoutMs: 20_000 }, provisioning: provisioningOf(settings) });
if (action === 'send') await device.send(peer!, text!);
else if (action === 'read') await device.syncMailbox();
else await device.maintain();
await device.close();
