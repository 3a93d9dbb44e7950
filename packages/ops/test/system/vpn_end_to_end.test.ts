import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { entryScript } from '@x3dh-iot/testkit';
import { cli } from '../operator_cli.js';
import { handBundleToMosquitto, hasMosquitto, MOSQUITTO } from '../mosquitto_process.js';
import { NamespaceLab } from '../network_namespaces.js';
import { bringUpWireGuard } from '../wireguard_interface.js';

/**
 * Devices -> WireGuard -> MQTT over TLS 1.3 -> key server, on this machine: one namespace per
 * device, one for the VPN server, one for the "cluster" (broker and key server), linked in the
 * benchmarking range 198.18.0.0/15. Everything is configured from the operator CLI's output.
 */
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const DEVICE_CLI = join(REPO, 'packages', 'device', 'src', 'cli', 'main.ts');
const SERVER_MAIN = join(REPO, 'packages', 'server', 'src', 'main.ts');

const VPN_ENDPOINT = '198.18.0.1';
const VPN_SUBNET = '198.18.200.0/24';
const CLUSTER_VPN_SIDE = '198.19.0.1';
const BROKER = '198.19.0.2';
const DEVICES = ['alice', 'bob'] as const;
const DEPLOYMENT = 'vpn-test';
const PORTS = { devices: 8883, server: 8884, v1: 8885 };

const missing = [
  ...['ip', 'wireguard-go', 'wg', 'wg-quick', 'nft'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0),
  ...(hasMosquitto ? [] : ['mosquitto']),
];
const skip = userInfo().uid !== 0 ? 'needs root (network namespaces)' : missing.length > 0 ? `missing ${missing.join(', ')}` : false;

describe('VPN end to end: devices reach the key server only through WireGuard', { skip }, () => {
  const lab = new NamespaceLab();
  const ns = { vpn: lab.name('vpn'), cluster: lab.name('cluster'), devices: DEVICES.map((_, index) => lab.name(`dev${index + 1}`)) };
  let ops: string;
  let serverLog = '';
  let operatorPublicKey = '';

  /** The device CLI inside a device's namespace, through the tunnel, with the device's certificate. */
  const device = async (index: number, ...args: string[]) => {
    const name = DEVICES[index]!;
    return lab.exec(ns.devices[index]!, process.execPath, [
      await entryScript(DEVICE_CLI),
      '--store', join(ops, `${name}-store.json`),
      '--broker', `mqtts://${BROKER}:${PORTS.devices}`,
      '--ca', join(ops, 'pki', 'ca.crt'),
      '--cert', join(ops, 'pki', 'devices', `${name}.crt`),
      '--key', join(ops, 'pki', 'devices', `${name}.key`),
      '--timeout', '15000',
      '--deployment-id', DEPLOYMENT, '--operator-key', operatorPublicKey,
      ...args,
    ]);
  };

  before(async () => {
    ops = await mkdtemp(join(tmpdir(), 'x3dh-ops-vpn-'));
    await chmod(ops, 0o755);
    await cli('pki', 'init', '-d', ops);
    await cli('operator', 'init', '-d', ops, '--deployment-id', DEPLOYMENT);
    operatorPublicKey = (await readFile(join(ops, 'operator', 'operator.pub'), 'utf8')).trim();
    await cli('pki', 'broker', '-d', ops, '--ip', BROKER);
    await cli('pki', 'server-client', '-d', ops);
    await cli('pki', 'device', ...DEVICES, '-d', ops);
    await cli('wg', 'provision', ...DEVICES, '-d', ops, '--subnet', VPN_SUBNET, '--endpoint', `${VPN_ENDPOINT}:51820`, '--route', `${BROKER}/32`);
    const bundle = join(ops, 'brokers', 'mosquitto');
    await cli('broker', 'mosquitto', '-d', ops, '--install-dir', bundle, '--persistence-dir', join(ops, 'mosquitto-data'), '--bind', BROKER,
      '--port', String(PORTS.devices), '--server-port', String(PORTS.server), '--v1-port', String(PORTS.v1));
    await handBundleToMosquitto(bundle, [ops, join(ops, 'brokers'), bundle], join(ops, 'mosquitto-data'));

    // Namespaces and links. Nothing below sends a packet before all of them exist.
    await lab.create('vpn');
    await lab.create('cluster');
    for (const [index] of DEVICES.entries()) {
      await lab.create(`dev${index + 1}`);
      await lab.link(
        { ns: ns.devices[index]!, ifname: lab.ifname(`d${index + 1}`), address: `198.18.${index + 1}.2/24` },
        { ns: ns.vpn, ifname: lab.ifname(`u${index + 1}`), address: `198.18.${index + 1}.1/24` },
      );
      // The VPN endpoint is reached over the device's link, and nothing else is.
      await lab.exec(ns.devices[index]!, 'ip', ['route', 'add', `${VPN_ENDPOINT}/32`, 'via', `198.18.${index + 1}.1`]);
    }
    await lab.exec(ns.vpn, 'ip', ['address', 'add', `${VPN_ENDPOINT}/32`, 'dev', 'lo']);
    await lab.link({ ns: ns.vpn, ifname: lab.ifname('c'), address: `${CLUSTER_VPN_SIDE}/24` }, { ns: ns.cluster, ifname: lab.ifname('k'), address: `${BROKER}/24` });
    await lab.exec(ns.cluster, 'ip', ['route', 'add', VPN_SUBNET, 'via', CLUSTER_VPN_SIDE]);

    // The VPN server forwards tunnel traffic into the cluster, and only tunnel traffic.
    await lab.exec(ns.vpn, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    await lab.exec(ns.vpn, 'nft', ['-f', '-'], [
      'table inet x3dh_vpn {',
      '  chain forward {',
      '    type filter hook forward priority 0; policy drop;',
      '    ct state established,related accept',
      `    iifname "${lab.ifname('w0')}" oifname "${lab.ifname('c')}" accept`,
      '  }',
      '}',
    ].join('\n'));

    for (const namespace of [ns.vpn, ns.cluster, ...ns.devices]) {
      lab.assertOurs(namespace);
      await lab.assertNoDefaultRoute(namespace);
    }

    await bringUpWireGuard(lab, ns.vpn, lab.ifname('w0'), join(ops, 'wireguard', 'wg0.conf'));
    for (const [index, name] of DEVICES.entries()) {
      await bringUpWireGuard(lab, ns.devices[index]!, lab.ifname(`w${index + 1}`), join(ops, 'wireguard', 'peers', `${name}.conf`));
    }

    // Broker and key server in the cluster namespace.
    const mosquitto = lab.spawn(ns.cluster, MOSQUITTO, ['-c', join(bundle, 'mosquitto.conf')]);
    let mosquittoLog = '';
    mosquitto.stderr!.on('data', (chunk) => (mosquittoLog += chunk));
    for (let attempt = 0; !(await lab.tcpOpens(ns.cluster, BROKER, PORTS.server, 500)); attempt += 1) {
      assert.ok(attempt < 40 && mosquitto.exitCode === null, `mosquitto did not start: ${mosquittoLog}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const server = lab.spawn(ns.cluster, process.execPath, [
      await entryScript(SERVER_MAIN),
      '--broker-url', `mqtts://${BROKER}:${PORTS.server}`,
      '--broker-ca', join(ops, 'pki', 'ca.crt'),
      '--broker-cert', join(ops, 'pki', 'server-client.crt'),
      '--broker-key', join(ops, 'pki', 'server-client.key'),
      '--data-dir', join(ops, 'server-data'),
      '--operator-key', join(ops, 'operator', 'operator.key'), '--deployment-id', DEPLOYMENT,
      '--open-enrolment',
    ], { X3DH_LOG_LEVEL: 'info' });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`key server not ready:\n${serverLog}`)), 90_000);
      const watch = (chunk: Buffer) => {
        serverLog += chunk.toString();
        if (serverLog.includes('key server ready')) {
          clearTimeout(timer);
          resolve();
        }
      };
      server.stdout!.on('data', watch);
      server.stderr!.on('data', watch);
      server.once('exit', (code) => reject(new Error(`key server exited ${code}:\n${serverLog}`)));
    });
  });

  after(() => lab.destroy());

  it('routes the broker through the tunnel and nowhere else', async () => {
    for (const [index] of DEVICES.entries()) {
      const route = await lab.exec(ns.devices[index]!, 'ip', ['route', 'get', BROKER]);
      assert.match(route, new RegExp(`dev ${lab.ifname(`w${index + 1}`)}`));
      await lab.assertNoDefaultRoute(ns.devices[index]!);
    }
    assert.ok(await lab.tcpOpens(ns.devices[0]!, BROKER, PORTS.devices), 'through the tunnel');
  });

  it('completes a handshake and messages both ways between two devices through their tunnels', async () => {
    await device(0, 'register', 'alice');
    await device(0, 'publish');
    await device(1, 'register', 'bob');
    await device(1, 'publish');
    assert.match(await device(0, 'users'), /bob/);
    await device(0, 'init', 'bob', 'hello bob, through WireGuard');
    assert.match(await device(1, 'inbox'), /hello bob, through WireGuard/);
    await device(1, 'send', 'alice', 'hi alice');
    assert.match(await device(0, 'read', 'bob'), /hi alice/);

    const handshakes = await lab.exec(ns.vpn, 'wg', ['show', lab.ifname('w0'), 'latest-handshakes']);
    const times = handshakes.trim().split('\n').map((line) => Number(line.split(/\s+/)[1]));
    assert.equal(times.length, DEVICES.length);
    assert.ok(times.every((time) => time > 0), `both peers completed a WireGuard handshake: ${handshakes}`);
  });

  it('fails closed around the tunnel: a direct route to the broker does not connect', async () => {
    const dev = ns.devices[0]!;
    const tunnel = lab.ifname('w1');
    await lab.exec(dev, 'ip', ['route', 'replace', `${BROKER}/32`, 'via', '198.18.1.1', 'dev', lab.ifname('d1')]);
    try {
      assert.match(await lab.exec(dev, 'ip', ['route', 'get', BROKER]), new RegExp(`dev ${lab.ifname('d1')}`));
      assert.equal(await lab.tcpOpens(dev, BROKER, PORTS.devices, 2000), false, 'the VPN server forwards tunnel traffic only');
    } finally {
      await lab.exec(dev, 'ip', ['route', 'replace', `${BROKER}/32`, 'dev', tunnel]);
    }
    // With the tunnel down there is no route at all: no fallback to anything else.
    await lab.exec(dev, 'ip', ['link', 'set', tunnel, 'down']);
    try {
      assert.equal(await lab.tcpOpens(dev, BROKER, PORTS.devices, 2000), false);
    } finally {
      await lab.exec(dev, 'ip', ['link', 'set', tunnel, 'up']);
      await lab.exec(dev, 'ip', ['route', 'replace', `${BROKER}/32`, 'dev', tunnel]);
    }
    assert.ok(await lab.tcpOpens(dev, BROKER, PORTS.devices), 'back through the tunnel');
  });

  it('keeps the peers the CLI provisioned', async () => {
    const registry = JSON.parse(await readFile(join(ops, 'wireguard', 'registry.json'), 'utf8'));
    const peers = await lab.exec(ns.vpn, 'wg', ['show', lab.ifname('w0'), 'allowed-ips']);
    for (const peer of registry.peers) assert.ok(peers.includes(`${peer.publicKey}\t${peer.address}/32`), peers);
  });
});
