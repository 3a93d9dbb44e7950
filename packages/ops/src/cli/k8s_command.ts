import { Command } from 'commander';
import { writeKubernetesSecrets } from '../k8s/kubernetes_secrets.js';
import { DEFAULT_SERVER_IDENTITY } from '../pki/pki_operations.js';
import { withOutputOptions, writeOptions, type OutputOptions } from './common_options.js';

export function k8sSecretsCommand(): Command {
  return withOutputOptions(new Command('k8s-secrets').description('write the secretGenerator/configMapGenerator inputs of a kustomize overlay'))
    .requiredOption('-o, --out <path>', 'directory the overlay reads, e.g. deploy/k8s/overlays/minikube/generated')
    .option('--namespace <name>', 'namespace of the deployment', 'x3dh')
    .option('--headless-service <name>', "RabbitMQ's headless Service (peer discovery)", 'rabbitmq-headless')
    .option('--vhost <name>', 'RabbitMQ virtual host for MQTT', 'x3dh')
    .option('--server-identity <cn>', "the key server's certificate CN", DEFAULT_SERVER_IDENTITY)
    .option('--pod-interface <name>', 'interface of the WireGuard pod that device traffic is masqueraded on', 'eth0')
    .action(async (options: OutputOptions & { out: string; namespace: string; headlessService: string; vhost: string; serverIdentity: string; podInterface: string }) => {
      await writeKubernetesSecrets(options.dir, options.out, { ...writeOptions(options), ...options, rabbitMqHeadlessService: options.headlessService });
    });
}
