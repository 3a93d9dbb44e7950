import { Command } from 'commander';
import { writeKubernetesSecrets } from '../k8s/kubernetes_secrets.js';
import { DEFAULT_SERVER_IDENTITY } from '../pki/pki_operations.js';
import { parsePort, withOutputOptions, writeOptions, type OutputOptions } from './common_options.js';

export function k8sSecretsCommand(): Command {
  return withOutputOptions(new Command('k8s-secrets').description('write the secretGenerator/configMapGenerator inputs of a kustomize overlay'))
    .requiredOption('-o, --out <path>', 'directory the overlay reads, e.g. deploy/k8s/overlays/minikube/generated')
    .option('--vhost <name>', 'RabbitMQ virtual host for MQTT', 'x3dh')
    .option('--server-identity <cn>', "the key server's certificate CN", DEFAULT_SERVER_IDENTITY)
    .option('--pod-interface <name>', 'interface of the WireGuard pod that device traffic is masqueraded on', 'eth0')
    .option('--tunnel-interface <name>', "the VPN gateway's WireGuard interface", 'wg0')
    .option('--broker-address <ipv4>', "the broker's address as devices reach it through the VPN (default: the one /32 route given to wg provision)")
    .option('--broker-port <port>', "the broker's MQTT port: the only port devices reach through the VPN", parsePort, 8883)
    .option('--enable-v1 <dir>', 'wire protocol v1 for unmodified firmware: the v1 user in the definitions, and its configuration in <dir>/rabbitmq-v1 (the overlay with deploy/k8s/components/v1-firmware)')
    .action(async (options: OutputOptions & { out: string; vhost: string; serverIdentity: string; podInterface: string; tunnelInterface: string; brokerAddress?: string; brokerPort: number; enableV1?: string }) => {
      await writeKubernetesSecrets(options.dir, options.out, { ...writeOptions(options), ...options, v1Out: options.enableV1 });
    });
}
