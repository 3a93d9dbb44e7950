import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Ipv4Subnet, provisionPeers, wireGuardPublicKey } from '../src/index.js';
import { cli, runCli } from './operator_cli.js';

const endpoint = { host: '198.18.0.1', port: 51820 };

describe('IPv4 subnets', () => {
  it('gives host addresses and the netmask', () => {
    const subnet = Ipv4Subnet.parse('10.13.13.0/24');
    assert.equal(subnet.host(1), '10.13.13.1');
    assert.equal(subnet.host(254), '10.13.13.254');
    assert.throws(() => subnet.host(255), /outside/);
    assert.equal(subnet.netmask, '255.255.255.0');
    assert.equal(Ipv4Subnet.parse('10.0.0.0/8').netmask, '255.0.0.0');
    assert.equal(Ipv4Subnet.parse('10.96.100.100/32').toString(), '10.96.100.100/32');
  });

  it('refuses malformed subnets and host bits', () => {
    assert.throws(() => Ipv4Subnet.parse('10.13.13.1/24'), /host bits/);
    assert.throws(() => Ipv4Subnet.parse('10.13.13.0'), /not an IPv4 subnet/);
    assert.throws(() => Ipv4Subnet.parse('10.13.256.0/24'), /not an IPv4 address/);
    assert.throws(() => Ipv4Subnet.parse('10.13.13.0/33'), /not an IPv4 subnet/);
  });
});

describe('WireGuard peer registry', () => {
  it('keeps existing peers and adds new ones at the next free address', () => {
    const first = provisionPeers(null, { subnet: '10.13.13.0/29', endpoint, devices: ['alice', 'bob'] });
    assert.deepEqual(first.added, ['alice', 'bob']);
    assert.equal(first.registry.server.address, '10.13.13.1');
    assert.deepEqual(first.registry.peers.map((peer) => peer.address), ['10.13.13.2', '10.13.13.3']);
    assert.equal(wireGuardPublicKey(first.registry.server.privateKey), first.registry.server.publicKey);

    const second = provisionPeers(first.registry, { devices: ['bob', 'carol'] });
    assert.deepEqual(second.added, ['carol']);
    assert.deepEqual(second.registry.peers.slice(0, 2), first.registry.peers);
    assert.deepEqual(second.registry.server, first.registry.server);
    assert.equal(second.registry.peers[2]!.address, '10.13.13.4');
  });

  it('refuses to move peers to another subnet, to run out of addresses, or to start without an endpoint', () => {
    const { registry } = provisionPeers(null, { subnet: '10.13.13.0/29', endpoint, devices: [] });
    assert.throws(() => provisionPeers(registry, { subnet: '10.14.0.0/24', devices: ['x'] }), /would change every device's address/);
    assert.throws(() => provisionPeers(registry, { devices: ['a', 'b', 'c', 'd', 'e', 'f'] }), /no free address left for f/);
    assert.throws(() => provisionPeers(null, { devices: ['a'] }), /endpoint/);
    assert.throws(() => provisionPeers(null, { endpoint, devices: ['bad/name'] }), /invalid device name/);
  });

  it('provisions through the CLI idempotently, with private files and MTU 1280 configurations', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-wg-'));
    await cli('wg', 'provision', 'alice', 'bob', '-d', dir, '--subnet', '10.13.13.0/24', '--endpoint', '198.18.0.1:51820', '--route', '10.96.100.100/32');
    const registryBefore = await readFile(join(dir, 'wireguard', 'registry.json'), 'utf8');
    const alice = await readFile(join(dir, 'wireguard', 'peers', 'alice.conf'), 'utf8');

    await cli('wg', 'provision', 'alice', 'carol', '-d', dir, '--listen-port', '51821');
    const registry = JSON.parse(await readFile(join(dir, 'wireguard', 'registry.json'), 'utf8'));
    assert.deepEqual(registry.peers.slice(0, 2), JSON.parse(registryBefore).peers, 'existing peers unchanged');
    assert.deepEqual(registry.peers.map((peer: { name: string }) => peer.name), ['alice', 'bob', 'carol']);
    assert.equal(await readFile(join(dir, 'wireguard', 'peers', 'alice.conf'), 'utf8'), alice, 'routes and endpoint kept');

    const server = await readFile(join(dir, 'wireguard', 'wg0.conf'), 'utf8');
    assert.match(server, /^Address = 10\.13\.13\.1\/24$/m);
    assert.match(server, /^ListenPort = 51821$/m, 'a port mapping: the endpoint stays 51820');
    assert.match(server, /^MTU = 1280$/m);
    assert.equal(server.match(/^\[Peer\]$/gm)?.length, 3);
    assert.match(server, new RegExp(`PublicKey = ${registry.peers[2].publicKey.replace(/[+/]/g, '\\$&')}\nAllowedIPs = 10\\.13\\.13\\.4/32`));
    assert.match(alice, /^Address = 10\.13\.13\.2\/24$/m);
    assert.match(alice, /^MTU = 1280$/m);
    assert.match(alice, /^Endpoint = 198\.18\.0\.1:51820$/m);
    assert.match(alice, /^AllowedIPs = 10\.13\.13\.0\/24, 10\.96\.100\.100\/32$/m);
    assert.match(alice, new RegExp(`^PublicKey = ${registry.server.publicKey.replace(/[+/]/g, '\\$&')}$`, 'm'));

    for (const file of ['registry.json', 'wg0.conf', 'peers/alice.conf', 'peers/carol.conf']) {
      assert.equal((await stat(join(dir, 'wireguard', file))).mode & 0o777, 0o600, file);
    }
    const refused = await runCli(['wg', 'provision', 'dave', '-d', dir, '--subnet', '10.99.0.0/24']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /would change every device's address/);
  });
});
