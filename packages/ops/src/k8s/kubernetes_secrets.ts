import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RABBITMQ_FILES, rabbitMqBootDefinitions, rabbitMqConfig, rabbitMqDefinitionsJson, rabbitMqPlugins, rabbitMqV1Config, type RabbitMqOptions } from '../brokers/rabbitmq_config.js';
import { readRequired } from '../files/read_required.js';
import { pathExists, PUBLIC_FILE_MODE, SECRET_FILE_MODE, writeOutputFiles, type OutputFile } from '../files/output_file.js';
import { type WriteOptions } from '../pki/pki_operations.js';
import { pkiLayout } from '../pki/pki_layout.js';
import { requirePeerRegistry } from '../wireguard/peer_registry.js';
import { gatewayRuleset } from '../wireguard/gateway_ruleset.js';
import { Ipv4Subnet } from '../wireguard/ipv4_subnet.js';
import type { PeerRegistry } from '../wireguard/peer_registry.js';
import { serverInterfaceConfig, serverPeersConfig } from '../wireguard/wg_quick_config.js';

/**
 * Inputs of the overlay's `secretGenerator` and `configMapGenerator`, one directory per generated
 * object. The manifests refer to these names. kustomize adds a content hash to the name of each
 * object whose change needs a restart (certificates, configuration, the gateway's interface), so
 * pods roll when they change; none of them depends on the set of devices. The device list
 * (`wireguard-peers`) keeps a fixed name and is applied live by the gateway's peer controller; the
 * broker's device users are applied live by `broker rabbitmq-sync`.
 */
export const K8S_INPUTS = {
  brokerTls: 'broker-tls',
  serverMqttTls: 'server-mqtt-tls',
  rabbitMqConfig: 'rabbitmq-config',
  rabbitMqDefinitions: 'rabbitmq-definitions',
  erlangCookie: 'rabbitmq-erlang-cookie',
  wireGuard: 'wireguard-config',
  wireGuardPeers: 'wireguard-peers',
  rabbitMqV1: 'rabbitmq-v1',
} as const;

export interface KubernetesSecretsOptions {
  vhost: string;
  serverIdentity: string;
  /** The interface of the WireGuard pod that device traffic is masqueraded on. */
  podInterface: string;
  /** The gateway's tunnel interface. */
  tunnelInterface: string;
  /** The broker's MQTT address as devices reach it; by default the one /32 route of the registry. */
  brokerAddress?: string | undefined;
  brokerPort: number;
  /**
   * Wire protocol v1 for unmodified firmware (deploy/k8s/components/v1-firmware): the v1 user's
   * configuration is written to `<dir>/rabbitmq-v1/v1-legacy.conf`, for the overlay that enables it.
   */
  v1Out?: string | undefined;
}

/** The v1 user's password of an earlier run (a new one would restart the nodes and lock out nothing else), or a new one. */
async function keptV1Password(file: string): Promise<string> {
  const existing = (await pathExists(file)) ? /^mqtt\.default_pass = (\S+)$/m.exec(await readFile(file, 'utf8'))?.[1] : undefined;
  return existing ?? randomBytes(24).toString('base64url');
}

/** The broker address devices route through the tunnel: the registry's only /32 besides the VPN subnet. */
function brokerAddressOf(registry: PeerRegistry): string {
  const hosts = registry.allowedIps.filter((network) => network !== registry.subnet && Ipv4Subnet.parse(network).prefixLength === 32);
  if (hosts.length !== 1) throw new Error(`cannot tell the broker's address from the VPN routes (${registry.allowedIps.join(', ')}): give --broker-address`);
  return hosts[0]!.replace(/\/32$/, '');
}

export async function writeKubernetesSecrets(dir: string, out: string, options: KubernetesSecretsOptions & WriteOptions): Promise<void> {
  const layout = pkiLayout(dir);
  const read = (path: string) => readRequired(path, 'create the PKI first: pki init, pki broker, pki server-client');
  const registry = await requirePeerRegistry(dir);
  const v1File = options.v1Out === undefined ? undefined : join(options.v1Out, K8S_INPUTS.rabbitMqV1, RABBITMQ_FILES.v1Config);
  const rabbit: RabbitMqOptions = {
    v1Password: v1File === undefined ? undefined : await keptV1Password(v1File),
    installDir: '/etc/rabbitmq/x3dh',
    vhost: options.vhost,
    mqttPort: 8883,
    amqpPort: 5671,
    // Device users are applied live (`broker rabbitmq-sync`), never at boot.
    devices: [],
    serverIdentity: options.serverIdentity,
    kubernetes: true,
  };
  const file = (object: string, name: string, contents: string, mode: number): OutputFile => ({ path: join(out, object, name), contents, mode });
  const files: OutputFile[] = [
    file(K8S_INPUTS.brokerTls, RABBITMQ_FILES.ca, await read(layout.caCert), PUBLIC_FILE_MODE),
    file(K8S_INPUTS.brokerTls, RABBITMQ_FILES.cert, await read(layout.brokerCert), PUBLIC_FILE_MODE),
    file(K8S_INPUTS.brokerTls, RABBITMQ_FILES.key, await read(layout.brokerKey), SECRET_FILE_MODE),
    file(K8S_INPUTS.serverMqttTls, 'ca.crt', await read(layout.caCert), PUBLIC_FILE_MODE),
    file(K8S_INPUTS.serverMqttTls, 'tls.crt', await read(layout.serverClientCert), PUBLIC_FILE_MODE),
    file(K8S_INPUTS.serverMqttTls, 'tls.key', await read(layout.serverClientKey), SECRET_FILE_MODE),
    file(K8S_INPUTS.rabbitMqConfig, RABBITMQ_FILES.config, rabbitMqConfig(rabbit), PUBLIC_FILE_MODE),
    file(K8S_INPUTS.rabbitMqConfig, RABBITMQ_FILES.plugins, rabbitMqPlugins(rabbit), PUBLIC_FILE_MODE),
    file(K8S_INPUTS.rabbitMqDefinitions, RABBITMQ_FILES.definitions, rabbitMqDefinitionsJson(rabbitMqBootDefinitions(rabbit)), SECRET_FILE_MODE),
    file(K8S_INPUTS.wireGuard, 'wg0.conf', serverInterfaceConfig(registry), SECRET_FILE_MODE),
    file(K8S_INPUTS.wireGuard, 'gateway.nft', gatewayRuleset(registry, {
      tunnelInterface: options.tunnelInterface,
      uplinkInterface: options.podInterface,
      broker: { address: options.brokerAddress ?? brokerAddressOf(registry), port: options.brokerPort },
    }), PUBLIC_FILE_MODE),
    file(K8S_INPUTS.wireGuardPeers, 'peers.conf', serverPeersConfig(registry), PUBLIC_FILE_MODE),
  ];
  if (v1File !== undefined) files.push({ path: v1File, contents: rabbitMqV1Config(rabbit.v1Password!), mode: SECRET_FILE_MODE });
  await writeOutputFiles(files, { ...options, force: true });

  // The cookie identifies the cluster to its own nodes: changing it splits a running cluster, so an
  // existing one is kept unless replacing it is asked for.
  const cookie = join(out, K8S_INPUTS.erlangCookie, 'cookie');
  if (options.force || !(await pathExists(cookie))) {
    await writeOutputFiles([{ path: cookie, contents: randomBytes(36).toString('base64url'), mode: SECRET_FILE_MODE }], { ...options, force: true });
  } else {
    options.progress(`kept ${cookie}`);
  }
}
