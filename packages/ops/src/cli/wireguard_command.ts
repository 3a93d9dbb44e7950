import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_VPN_SUBNET } from '../wireguard/peer_registry.js';
import { provisionWireGuard, removeWireGuardPeers } from '../wireguard/wireguard_operations.js';
import { collect, parsePort, withOutputOptions, writeOptions, type OutputOptions } from './common_options.js';

function parseEndpoint(value: string): { host: string; port: number } {
  const match = /^([^:\s]+):(\d+)$/.exec(value);
  if (!match) throw new InvalidArgumentError('must be HOST:PORT');
  return { host: match[1]!, port: parsePort(match[2]!) };
}

export function wireGuardCommand(): Command {
  const wg = new Command('wg').description('WireGuard VPN: server keys and one peer per device (wg-quick files, MTU 1280)');

  withOutputOptions(wg.command('provision').description('add peers for devices that have none; existing peers keep their keys and addresses'))
    .argument('[devices...]', 'device names', [])
    .option('--subnet <cidr>', `VPN subnet (IPv4; default ${DEFAULT_VPN_SUBNET}); the server takes its first address`)
    .option('--endpoint <host:port>', 'where devices reach the VPN server (needed the first time; kept afterwards)', parseEndpoint)
    .option('--listen-port <port>', "the server's UDP port when it differs from the endpoint's (port mapping); kept when omitted", parsePort)
    .option('--route <cidr>', 'extra network the devices reach through the tunnel, e.g. the broker (repeatable; kept when omitted)', collect)
    .action(async (devices: string[], options: OutputOptions & { subnet?: string; endpoint?: { host: string; port: number }; listenPort?: number; route?: string[] }) => {
      const registry = await provisionWireGuard(options.dir, { subnet: options.subnet, endpoint: options.endpoint, listenPort: options.listenPort, routes: options.route, devices }, writeOptions(options).progress);
      console.log(`${registry.peers.length} peer(s); server ${registry.server.address}, public key ${registry.server.publicKey}`);
    });

  withOutputOptions(wg.command('remove').description("drop devices' peers (revoked or retired devices); the other peers keep their keys and addresses"))
    .argument('<devices...>', 'device names')
    .action(async (devices: string[], options: OutputOptions) => {
      const registry = await removeWireGuardPeers(options.dir, devices, writeOptions(options).progress);
      console.log(`${registry.peers.length} peer(s) left; apply with k8s-secrets and kubectl apply (the gateway picks them up live)`);
    });

  return wg;
}
