import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { freePort } from '@x3dh-iot/testkit';
import { connectMqtt } from '@x3dh-iot/transport';
import { cli, runCli } from './operator_cli.js';
import { hasMosquitto, startMosquitto, type RunningMosquitto } from './mosquitto_process.js';
import { planRuleSync } from '../src/brokers/mosquitto_rule_sync.js';
import { mosquittoRuleSet } from '../src/brokers/mosquitto_security_rules.js';

const NOT_AUTHORIZED = 0x87;
const skip = hasMosquitto ? false : 'mosquitto is not installed';

async function subscribeReason(client: MqttClient, filter: string): Promise<number> {
  try {
    return (await client.subscribeAsync(filter, { qos: 1 }))[0]!.qos;
  } catch (error) {
    return (error as { packet?: { granted?: number[] } }).packet?.granted?.[0] ?? -1;
  }
}

async function publishReason(client: MqttClient, topic: string): Promise<number> {
  try {
    await client.publishAsync(topic, 'x', { qos: 1 });
    return 0;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

const rules = (devices: string[], v1 = false) =>
  mosquittoRuleSet({ devices, serverIdentity: 'x3dh-server', adminIdentity: 'x3dh-broker-admin', v1 });

describe('planning the changes that bring a running Mosquitto to the generated rules', () => {
  it('plans nothing when the broker agrees, and exactly the differences otherwise', () => {
    assert.deepEqual(planRuleSync(rules(['alice', 'bob']), rules(['alice', 'bob'])), []);
    const added = planRuleSync(rules(['alice']), rules(['alice', 'carol']));
    assert.deepEqual(added.map((command) => command.command), ['createRole', 'createClient']);
    assert.equal(added[1]!.username, 'carol');
    const removed = planRuleSync(rules(['alice', 'bob']), rules(['alice']));
    assert.deepEqual(removed.map((command) => [command.command, command.username ?? command.rolename]),
      [['deleteClient', 'bob'], ['deleteRole', 'device-bob']], 'the client goes before the role it holds');
  });

  it('turns v1 on and off through the anonymous group', () => {
    const on = planRuleSync(rules(['alice']), rules(['alice'], true));
    assert.deepEqual(on.filter((command) => command.command !== 'addRoleACL' && command.command !== 'removeRoleACL').map((command) => command.command),
      ['createRole', 'createGroup', 'setAnonymousGroup']);
    const off = planRuleSync(rules(['alice'], true), rules(['alice']));
    assert.deepEqual(off.map((command) => command.command).filter((name) => name.startsWith('delete')), ['deleteGroup', 'deleteRole']);
  });

  it('replaces a changed ACL and restores a changed default', () => {
    const current = rules(['alice']);
    const role = current.roles.find((candidate) => candidate.rolename === 'device-alice')!;
    role.acls = [...role.acls.slice(1), { acltype: 'publishClientSend', topic: '#', allow: true, priority: 0 }];
    current.defaultACLAccess.subscribe = true;
    const plan = planRuleSync(current, rules(['alice']));
    assert.deepEqual(plan.map((command) => [command.command, command.topic ?? '']), [
      ['removeRoleACL', '#'], ['addRoleACL', '$share/#'], ['setDefaultACLAccess', ''],
    ]);
  });
});

describe('a running Mosquitto takes device changes live (broker mosquitto --install, mosquitto-apply)', { skip }, () => {
  let dir: string;
  let installDir: string;
  let mosquitto: RunningMosquitto;
  let ca: string;
  let port: number;
  let serverPort: number;
  const clients: MqttClient[] = [];

  const connectAs = async (device: string) => {
    const base = join(dir, 'pki', 'devices', device);
    const client = await connectMqtt({
      url: `mqtts://127.0.0.1:${port}`, ca, cert: await readFile(`${base}.crt`, 'utf8'), key: await readFile(`${base}.key`, 'utf8'),
      clientId: device, connectTimeoutMs: 3000, reconnectPeriodMs: 0,
    });
    clients.push(client);
    return client;
  };
  const regenerate = () => cli('broker', 'mosquitto', '-d', dir, '--install', '--install-dir', installDir, '--persistence-dir', join(dir, 'mosquitto-data'),
    '--bind', '127.0.0.1', '--port', String(port), '--server-port', String(serverPort));
  const apply = (...extra: string[]) => cli('broker', 'mosquitto-apply', '-d', dir, '--broker-uri', `mqtts://127.0.0.1:${serverPort}`, ...extra);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-live-'));
    installDir = join(dir, 'installed');
    [port, serverPort] = [await freePort(), await freePort()];
    await cli('pki', 'init', '-d', dir);
    await cli('pki', 'broker', '-d', dir, '--dns', 'localhost', '--ip', '127.0.0.1');
    await cli('pki', 'server-client', '-d', dir);
    await cli('pki', 'broker-admin', '-d', dir);
    await cli('pki', 'device', 'alice', 'bob', '-d', dir);
    await regenerate();
    await mkdir(join(dir, 'mosquitto-data'), { recursive: true });
    if (userInfo().uid === 0) {
      // The install directory's parent must be reachable, and the persistence directory writable, by the broker's user.
      await chmod(dir, 0o755);
      await chown(join(dir, 'mosquitto-data'), Number(execFileSync('id', ['-u', 'mosquitto'])), Number(execFileSync('id', ['-g', 'mosquitto'])));
    }
    mosquitto = await startMosquitto(join(installDir, 'mosquitto.conf'), [port, serverPort]);
    ca = await readFile(join(dir, 'pki', 'ca.crt'), 'utf8');
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true).catch(() => undefined)));
    await mosquitto?.stop();
  });

  it('installs the bundle owned by the broker user, and regenerates it without --force', async () => {
    const info = await stat(join(installDir, 'broker.key'));
    assert.equal(info.mode & 0o777, 0o600);
    if (userInfo().uid === 0) assert.notEqual(info.uid, 0, 'the key belongs to the mosquitto user');
    await regenerate();
    assert.match(await apply('--dry-run'), /already match/);
  });

  it('a device certified after the broker started gets its rules from mosquitto-apply; connected devices stay connected', async () => {
    const alice = await connectAs('alice');
    assert.equal(await subscribeReason(alice, 'x3dh/v2/resp/alice'), 1);
    await cli('pki', 'device', 'carol', '-d', dir);
    await regenerate();
    const early = await connectAs('carol');
    assert.equal(await subscribeReason(early, 'x3dh/v2/resp/carol'), NOT_AUTHORIZED, 'no rules yet: the running broker still has the old ones');

    const output = await apply();
    assert.match(output, /createClient carol/);
    assert.equal(await subscribeReason(early, 'x3dh/v2/resp/carol'), 1, 'carol gets her rules on her open connection');
    assert.equal(await publishReason(early, 'x3dh/v2/req/carol/bundle.fetch'), 0);
    assert.equal(await publishReason(early, 'x3dh/v2/req/alice/bundle.fetch'), NOT_AUTHORIZED);
    assert.ok(alice.connected, "alice's connection was not touched");
    assert.equal(await publishReason(alice, 'x3dh/v2/req/alice/bundle.fetch'), 0);
    assert.match(await apply(), /already match/, 'a second run changes nothing');
  });

  it('a revoked device loses its rules and its connection at once', async () => {
    const bob = await connectAs('bob');
    const closed = new Promise<void>((resolve) => bob.once('close', () => resolve()));
    await cli('pki', 'revoke', 'bob', '--certificate-only', '-d', dir);
    await regenerate();
    assert.match(await apply(), /deleteClient bob/);
    await closed;
    const again = await connectAs('bob').catch(() => null);
    if (again !== null) assert.equal(await subscribeReason(again, 'x3dh/v2/resp/bob'), NOT_AUTHORIZED);
  });

  it('a device cannot change the rules through the plugin API, nor read its answers, nor take the administrator identity', async () => {
    const alice = await connectAs('alice');
    assert.equal(await publishReason(alice, '$CONTROL/dynamic-security/v1'), NOT_AUTHORIZED);
    assert.equal(await subscribeReason(alice, '$CONTROL/dynamic-security/#'), NOT_AUTHORIZED);
    const refused = await runCli(['pki', 'device', 'x3dh-broker-admin', '-d', dir]);
    assert.notEqual(refused.code, 0, 'no device may take the administrator identity');
    assert.match(refused.stderr, /reserved/);
  });

  it('the rules applied live survive a broker restart (the plugin saves them to the installed file)', async () => {
    await mosquitto.stop();
    mosquitto = await startMosquitto(join(installDir, 'mosquitto.conf'), [port, serverPort]);
    const carol = await connectAs('carol');
    assert.equal(await subscribeReason(carol, 'x3dh/v2/resp/carol'), 1);
    assert.match(await apply('--dry-run'), /already match/);
  });
});
