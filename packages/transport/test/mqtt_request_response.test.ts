import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startMosquitto, startTcpProxy, type MosquittoBroker } from '@x3dh-iot/testkit';
import type { MqttClient } from 'mqtt';
import { connectMqtt, MqttConnectError, MqttRequester, RequestTimeoutError } from '../src/index.js';

/** Answers every request on `echo/#` with its payload reversed, after `delayFor(payload)` ms. */
async function startResponder(url: string, ca: string, delayFor: (payload: string) => number = () => 0) {
  const client = await connectMqtt({ url, ca, clientId: 'responder' });
  client.on('message', (_topic, payload, packet) => {
    const { responseTopic, correlationData } = packet.properties ?? {};
    if (!responseTopic) return;
    const text = payload.toString();
    setTimeout(() => {
      client.publishAsync(responseTopic, [...text].reverse().join(''), { qos: 1, properties: { correlationData } })
        .catch(() => undefined); // the responder may be closing at the end of the suite
    }, delayFor(text));
  });
  await client.subscribeAsync('echo/#', { qos: 1 });
  return client;
}

describe('MQTT 5 request/response over TLS 1.3 (Mosquitto)', () => {
  let broker: MosquittoBroker;
  let responder: MqttClient;
  const clients: MqttClient[] = [];

  before(async () => {
    broker = await startMosquitto({ tls: true });
    responder = await startResponder(broker.url, broker.certificates!.ca, (p) => (p === 'slow' ? 300 : 0));
  });
  after(async () => {
    for (const c of [...clients, responder]) await c.endAsync(true);
    await broker.stop();
  });

  const requester = async (options: Partial<Parameters<typeof MqttRequester.start>[1]> = {}) => {
    const client = await connectMqtt({ url: broker.url, ca: broker.certificates!.ca });
    clients.push(client);
    return MqttRequester.start(client, { responseTopic: 'x3dh/resp/me', responseFilter: 'x3dh/resp/#', ...options });
  };

  test('the connection negotiates TLS 1.3', async () => {
    const client = await connectMqtt({ url: broker.url, ca: broker.certificates!.ca });
    clients.push(client);
    const stream = client.stream as unknown as { getProtocol(): string | null };
    assert.equal(stream.getProtocol(), 'TLSv1.3');
  });

  test('a broker certificate from another CA is refused', async () => {
    const other = await startMosquitto({ tls: true });
    try {
      await assert.rejects(connectMqtt({ url: broker.url, ca: other.certificates!.ca, connectTimeoutMs: 3000 }), MqttConnectError);
    } finally {
      await other.stop();
    }
  });

  test('concurrent requests each get their own response, matched by Correlation Data', async () => {
    const r = await requester();
    const payloads = Array.from({ length: 50 }, (_, i) => `request-${i}`);
    const responses = await Promise.all(payloads.map((p) => r.request('echo/test', p)));
    assert.deepEqual(responses.map((x) => x.payload.toString()), payloads.map((p) => [...p].reverse().join('')));
  });

  test('two requesters sharing a response topic see only their own responses', async () => {
    const [a, b] = await Promise.all([requester(), requester()]);
    const [ra, rb] = await Promise.all([a.request('echo/a', 'from-a'), b.request('echo/b', 'from-b')]);
    assert.equal(ra.payload.toString(), 'a-morf');
    assert.equal(rb.payload.toString(), 'b-morf');
  });

  test('a request without a response times out with a typed error', async () => {
    const r = await requester({ timeoutMs: 200 });
    await assert.rejects(r.request('nobody/listens', '{}'), RequestTimeoutError);
  });

  test('close() rejects requests still waiting', async () => {
    const r = await requester();
    const pending = r.request('echo/test', 'slow');
    r.close();
    await assert.rejects(pending, /requester closed/);
  });

  test('a dropped connection reconnects and resubscribes by itself, without an uncaught error', { timeout: 30_000 }, async () => {
    const proxy = await startTcpProxy('127.0.0.1', broker.port);
    try {
      const client = await connectMqtt({
        url: `mqtts://127.0.0.1:${proxy.port}`, ca: broker.certificates!.ca, reconnectPeriodMs: 100,
      });
      clients.push(client);
      const r = await MqttRequester.start(client, { responseTopic: 'x3dh/resp/me', responseFilter: 'x3dh/resp/#' });
      assert.equal((await r.request('echo/x', 'before')).payload.toString(), 'erofeb');
      const offline = new Promise<void>((resolve) => client.once('offline', () => resolve()));
      proxy.cut();
      await offline;
      const back = new Promise<void>((resolve) => client.once('connect', () => resolve()));
      proxy.restore();
      await back;
      assert.equal((await r.request('echo/x', 'after')).payload.toString(), 'retfa');
    } finally {
      await proxy.close();
    }
  });

  test('requestWith sends the caller\'s Correlation Data and User Properties; the same id can be sent again once the first wait ended', async () => {
    const echo = await connectMqtt({ url: broker.url, ca: broker.certificates!.ca });
    clients.push(echo);
    let seen = 0;
    echo.on('message', (_topic, _payload, packet) => {
      const { responseTopic, correlationData, userProperties } = packet.properties ?? {};
      // The first copy goes unanswered, as a lost response would.
      if (!responseTopic || seen++ === 0) return;
      void echo.publishAsync(responseTopic, JSON.stringify(userProperties), { qos: 1, properties: { correlationData } });
    });
    await echo.subscribeAsync('props/#', { qos: 1 });
    const r = await requester({ responseTopic: 'props-resp/me', responseFilter: 'props-resp/me' });
    const fields = { correlationData: Buffer.alloc(16, 7), userProperties: { 'x3dh-ts': '123', 'x3dh-sig': 'abc' }, timeoutMs: 1500 };
    await assert.rejects(r.requestWith('props/op', '{}', fields), RequestTimeoutError);
    const pending = r.requestWith('props/op', '{}', fields);
    await assert.rejects(r.requestWith('props/op', '{}', fields), /already waiting/);
    const response = await pending;
    assert.deepEqual(JSON.parse(response.payload.toString()), { 'x3dh-ts': '123', 'x3dh-sig': 'abc' });
    assert.deepEqual(response.properties?.correlationData, fields.correlationData);
  });

  test('an unsupported URL scheme is a clear error', () => {
    assert.throws(() => connectMqtt({ url: 'http://127.0.0.1:1' }), /unsupported broker URL scheme/);
  });
});
