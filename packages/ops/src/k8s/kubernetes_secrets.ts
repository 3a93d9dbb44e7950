import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { RABBITMQ_FILES, rabbitMqConfig, rabbitMqDefinitions, rabbitMqPlugins, type RabbitMqOptions } from '../brokers/rabbitmq_config.js';
import { readRequired } from '../files/read_required.js';
import { pathExists, PUBLIC_FILE_MODE, SECRET_FILE_MODE, writeOutputFiles, type OutputFile } from '../files/output_file.js';
import { listCertifiedDevices, type WriteOptions } from '../pki/pki_operations.js';
import { pkiLayout } from '../pki/pki_layout.js';
import { requirePeerRegistry } from '../wireguard/peer_registry.js';
import { serverConfig } from '../wireguard/wg_quick_config.js';

/**
 * Inputs of the overlay's `secretGenerator` and `configMapGenerator`, one directory per generated
 * object. The manifests refer to these names; kustomize adds a content hash to each object's name,
 * so a regenerated secret rolls the pods that use it.
 */
export const K8S_INPUTS = {
  brokerTls: 'broker-tls',
  serverMqttTls: 'server-mqtt-tls',
  rabbitMqConfig: 'rabbitmq-config',
  rabbitMqDefinitions: 'rabbitmq-definitions',
  erlangCookie: 'rabbitmq-erlang-cookie',
  wireGuard: 'wireguard-config',
} as const;

export interface KubernetesSecretsOptions {
  namespace: string;
  rabbitMqHeadlessService: string;
  vhost: string;
  serverIdentity: string;
  /** The interface of the WireGuard pod that device traffic is masqueraded on. */
  podInterface: string;
}

export async function writeKubernetesSecrets(dir: string, out: string, options: KubernetesSecretsOptions & WriteOptions): Promise<void> {
  const layout = pkiLayout(dir);
  const read = (path: string) => readRequired(path, 'create the PKI first: pki init, pki broker, pki server-client');
  const registry = await requirePeerRegistry(dir);
  const rabbit: RabbitMqOptions = {
    installDir: '/etc/rabbitmq/x3dh',
    vhost: options.vhost,
    mqttPort: 8883,
    amqpPort: 5671,
    devices: await listCertifiedDevices(dir),
    serverIdentity: options.serverIdentity,
    kubernetes: { headlessService: options.rabbitMqHeadlessService, namespace: options.namespace },
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
    file(K8S_INPUTS.rabbitMqDefinitions, RABBITMQ_FILES.definitions, rabbitMqDefinitions(rabbit), SECRET_FILE_MODE),
    file(K8S_INPUTS.wireGuard, 'wg0.conf', serverConfig(registry, { natInterface: options.podInterface }), SECRET_FILE_MODE),
  ];
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
