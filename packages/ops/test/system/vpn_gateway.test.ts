import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cli } from '../operator_cli.js';
import { NamespaceLab } from '../network_namespaces.js';
import { bringUpWireGuard } from '../wireguard_interface.js';

/**
 * The Kubernetes VPN gateway on this machine, from what `x3dh-ops k8s-secrets` writes for it: the
 * interface alone (wg0.conf), its nftables ruleset (gateway.nft) and the device list (peers.conf)
 * applied by the gateway's peer controller (deploy/wireguard/sync-peers.sh). One namespace per
 * device, one for the gateway, one for the "cluster" with the broker's MQTT port, another port of
 * the broker and another service; the cluster has no route to the VPN subnet (the gateway
 * masquerades, as in the pod).
 */
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const SYNC_PEERS = join(REPO, 'deploy', 'wireguard', 'sync-peers.sh');

const VPN_ENDPOINT = '198.18.0.1';
const VPN_SUBNET = '198.18.200.0/24';
const GATEWAY_TUNNEL_ADDRESS = '198.18.200.1';
const CLUSTER_GATEWAY_SIDE = '198.19.0.1';
const BROKER = '198.19.0.2';
/** Another service in the cluster (a database, say). */
const OTHER_SERVICE = '198.19.0.3';
const PORTS = { mqtt: 8883, amqp: 5671, database: 5432, gateway: 9999 };
const DEVICES = ['alice', 'bob', 'carol'] as const;

const missing = ['ip', 'wireguard-go', 'wg', 'wg-quick', 'nft'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
const skip = userInfo().uid !== 0 ? 'needs root (network namespaces)' : missing.length > 0 ? `missing ${missing.join(', ')}` : false;

/** A TCP echo server on each address:port, for reachability and for long-lived connections. */
const ECHO = `const net=require('node:net');for(const a of process.argv.slice(1)){const [h,p]=a.split(':');net.createServer((s)=>s.pipe(s)).listen(Number(p),h)}`;
/**
 * A long-lived connection: sends a byte every 100 ms and counts echoes; prints the count and exits
 * 0 on SIGTERM, exits 1 as soon as the connection breaks.
 */
const KEEPALIVE = `const s=require('node:net').connect({host:process.argv[1],port:Number(process.argv[2])});let n=0;` +
  `s.on('data',(d)=>{n+=d.length});s.on('connect',()=>setInterval(()=>s.write('x'),100));` +
  `s.on('close',()=>process.exit(1));s.on('error',()=>process.exit(1));process.on('SIGTERM',()=>{console.log(n);process.exit(0)});`;

describe('VPN gateway: live peers and a firewall that lets devices reach only the broker', { skip }, () => {
  const lab = new NamespaceLab();
  const ns = { vpn: lab.name('vpn'), cluster: lab.name('cluster'), devices: DEVICES.map((_, index) => lab.name(`dev${index + 1}`)) };
  const tunnel = lab.ifname('w0');
  let ops: string;
  let generated: string;

  const k8sSecrets = () => cli('k8s-secrets', '-d', ops, '-o', generated, '--pod-interface', lab.ifname('c'), '--tunnel-interface', tunnel);
  const syncPeers = () => lab.exec(ns.vpn, 'env', [
    `WG_INTERFACE=${tunnel}`,
    `WG_CONFIG=${join(generated, 'wireguard-config', 'wg0.conf')}`,
    `WG_PEERS=${join(generated, 'wireguard-peers', 'peers.conf')}`,
    'sh', SYNC_PEERS, '--once',
  ]);
  const publicKey = async (name: string) => {
    const registry = JSON.parse(await readFile(join(ops, 'wireguard', 'registry.json'), 'utf8')) as { peers: Array<{ name: string; publicKey: string }> };
    const key = registry.peers.find((peer) => peer.name === name)?.publicKey;
    assert.ok(key, `${name} has a peer`);
    return key;
  };
  /** The gateway's `wg show dump` line of a peer, by public key. */
  const peerLine = async (key: string) => (await lab.exec(ns.vpn, 'wg', ['show', tunnel, 'dump'])).split('\n').find((line) => line.startsWith(`${key}\t`));
  const deviceUp = async (index: number) => {
    await lab.create(`dev${index + 1}`);
    await lab.link(
      { ns: ns.devices[index]!, ifname: lab.ifname(`d${index + 1}`), address: `198.18.${index + 1}.2/24` },
      { ns: ns.vpn, ifname: lab.ifname(`u${index + 1}`), address: `198.18.${index + 1}.1/24` },
    );
    await lab.exec(ns.devices[index]!, 'ip', ['route', 'add', `${VPN_ENDPOINT}/32`, 'via', `198.18.${index + 1}.1`]);
    await lab.assertNoDefaultRoute(ns.devices[index]!);
    await bringUpWireGuard(lab, ns.devices[index]!, lab.ifname(`w${index + 1}`), join(ops, 'wireguard', 'peers', `${DEVICES[index]}.conf`));
  };

  before(async () => {
    ops = await mkdtemp(join(tmpdir(), 'x3dh-ops-gateway-'));
    await chmod(ops, 0o755);
    generated = join(ops, 'generated');
    await cli('pki', 'init', '-d', ops);
    await cli('pki', 'broker', '-d', ops, '--ip', BROKER);
    await cli('pki', 'server-client', '-d', ops);
    await cli('wg', 'provision', 'alice', 'bob', '-d', ops, '--subnet', VPN_SUBNET, '--endpoint', `${VPN_ENDPOINT}:51820`, '--route', `${BROKER}/32`);
    await k8sSecrets();

    await lab.create('vpn');
    await lab.create('cluster');
    await lab.exec(ns.vpn, 'ip', ['address', 'add', `${VPN_ENDPOINT}/32`, 'dev', 'lo']);
    await lab.link({ ns: ns.vpn, ifname: lab.ifname('c'), address: `${CLUSTER_GATEWAY_SIDE}/24` }, { ns: ns.cluster, ifname: lab.ifname('k'), address: `${BROKER}/24` });
    await lab.exec(ns.cluster, 'ip', ['address', 'add', `${OTHER_SERVICE}/24`, 'dev', lab.ifname('k')]);
    for (const namespace of [ns.vpn, ns.cluster]) await lab.assertNoDefaultRoute(namespace);

    // The gateway as the pod runs it: ruleset first, then the interface, then the peer controller.
    await lab.exec(ns.vpn, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    await lab.exec(ns.vpn, 'nft', ['-f', join(generated, 'wireguard-config', 'gateway.nft')]);
    await bringUpWireGuard(lab, ns.vpn, tunnel, join(generated, 'wireguard-config', 'wg0.conf'));
    await syncPeers();

    lab.spawn(ns.cluster, process.execPath, ['-e', ECHO, `${BROKER}:${PORTS.mqtt}`, `${BROKER}:${PORTS.amqp}`, `${OTHER_SERVICE}:${PORTS.database}`]);
    lab.spawn(ns.vpn, process.execPath, ['-e', ECHO, `0.0.0.0:${PORTS.gateway}`]);
    for (let attempt = 0; !(await lab.tcpOpens(ns.cluster, BROKER, PORTS.mqtt, 500)); attempt += 1) {
      assert.ok(attempt < 40, 'echo servers did not start');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await deviceUp(0);
    await deviceUp(1);
  });

  after(() => lab.destroy());

  it('the controller applied the provisioned peers to the interface', async () => {
    assert.ok(await peerLine(await publicKey('alice')));
    assert.ok(await peerLine(await publicKey('bob')));
    assert.ok(await lab.tcpOpens(ns.devices[0]!, BROKER, PORTS.mqtt), 'alice reaches the broker through the tunnel');
    assert.ok(await lab.tcpOpens(ns.devices[1]!, BROKER, PORTS.mqtt), 'bob reaches the broker through the tunnel');
  });

  it('attack: a device key reaches the broker\'s MQTT port and nothing else behind the gateway', async () => {
    const dev = ns.devices[0]!;
    const devTunnel = lab.ifname('w1');
    // The attacker controls the device: it routes the whole cluster network and the gateway through its tunnel.
    const gatewayKey = (await lab.exec(ns.vpn, 'wg', ['show', tunnel, 'public-key'])).trim();
    await lab.exec(dev, 'wg', ['set', devTunnel, 'peer', gatewayKey, 'allowed-ips', `${VPN_SUBNET},198.19.0.0/24`]);
    await lab.exec(dev, 'ip', ['route', 'replace', '198.19.0.0/24', 'dev', devTunnel]);
    assert.match(await lab.exec(dev, 'ip', ['route', 'get', OTHER_SERVICE]), new RegExp(`dev ${devTunnel}`));
    assert.ok(await lab.tcpOpens(dev, BROKER, PORTS.mqtt), 'the broker\'s MQTT listener');
    const reached: string[] = [];
    for (const [host, port] of [[BROKER, PORTS.amqp], [OTHER_SERVICE, PORTS.database], [CLUSTER_GATEWAY_SIDE, PORTS.gateway], [GATEWAY_TUNNEL_ADDRESS, PORTS.gateway]] as const) {
      if (await lab.tcpOpens(dev, host, port, 1500)) reached.push(`${host}:${port}`);
    }
    assert.deepEqual(reached, [], 'only the broker\'s MQTT port is open to devices');
  });

  it('adds a device live: the new device connects and the other peers\' sessions and connections are untouched', async () => {
    const inputs = async () => Promise.all(['wg0.conf', 'gateway.nft'].map((file) => readFile(join(generated, 'wireguard-config', file), 'utf8')));
    const alice: ChildProcess = lab.spawn(ns.devices[0]!, process.execPath, ['-e', KEEPALIVE, BROKER, String(PORTS.mqtt)]);
    let aliceOutput = '';
    alice.stdout!.on('data', (chunk) => (aliceOutput += chunk));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const aliceKey = await publicKey('alice');
    const aliceBefore = (await peerLine(aliceKey))!.split('\t');
    const inputsBefore = await inputs();

    await cli('wg', 'provision', 'carol', '-d', ops);
    await k8sSecrets();
    assert.deepEqual(await inputs(), inputsBefore, 'the interface and the firewall (and so the gateway pod) do not change');
    assert.match(await readFile(join(generated, 'wireguard-peers', 'peers.conf'), 'utf8'), /# carol/);
    await syncPeers();
    await deviceUp(2);
    assert.ok(await lab.tcpOpens(ns.devices[2]!, BROKER, PORTS.mqtt), 'carol reaches the broker');

    const aliceAfter = (await peerLine(aliceKey))!.split('\t');
    // dump: public-key, preshared-key, endpoint, allowed-ips, latest-handshake, rx, tx, keepalive
    assert.equal(aliceAfter[2], aliceBefore[2], 'alice keeps her endpoint');
    assert.equal(aliceAfter[4], aliceBefore[4], 'alice\'s session was not renegotiated');
    assert.ok(Number(aliceAfter[5]) > Number(aliceBefore[5]), 'alice\'s counters kept growing (not reset)');
    assert.equal(alice.exitCode, null, 'alice\'s connection through the tunnel never broke');
    alice.kill('SIGTERM');
    await new Promise((resolve) => alice.once('exit', resolve));
    assert.equal(alice.exitCode, 0);
    assert.ok(Number(aliceOutput.trim()) > 10, `echoes received: ${aliceOutput}`);
  });

  it('removes a revoked device live: its key stops working, the others stay', async () => {
    const bobKey = await publicKey('bob');
    await cli('wg', 'remove', 'bob', '-d', ops);
    await k8sSecrets();
    await syncPeers();
    assert.equal(await peerLine(bobKey), undefined);
    assert.equal(await lab.tcpOpens(ns.devices[1]!, BROKER, PORTS.mqtt, 2000), false, 'bob\'s key no longer opens the tunnel');
    assert.ok(await lab.tcpOpens(ns.devices[0]!, BROKER, PORTS.mqtt), 'alice still connects');
    assert.ok(await lab.tcpOpens(ns.devices[2]!, BROKER, PORTS.mqtt), 'carol still connects');
  });
});
