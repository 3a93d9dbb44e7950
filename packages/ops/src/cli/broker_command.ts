import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { mosquittoBundleDir, writeMosquittoBundle, writeRabbitMqBundle } from '../brokers/broker_bundles.js';
import { installBundle } from '../brokers/install_bundle.js';
import { syncRabbitMqDevices } from '../brokers/rabbitmq_device_sync.js';
import { DEFAULT_SECURITY_PLUGIN } from '../brokers/mosquitto_config.js';
import { applyMosquittoRules } from '../brokers/apply_mosquitto_rules.js';
import { DEFAULT_BROKER_ADMIN_IDENTITY, DEFAULT_SERVER_IDENTITY, listCertifiedDevices } from '../pki/pki_operations.js';
import { parsePort, withOutputOptions, writeOptions, type OutputOptions } from './common_options.js';

interface BrokerOptions extends OutputOptions {
  installDir: string;
  serverIdentity: string;
}

interface MosquittoCommandOptions {
  install: boolean;
  brokerUser: string;
  adminIdentity: string;
  persistenceDir: string;
  bind?: string;
  port: number;
  serverPort: number;
  wsPort?: number;
  v1Port?: number;
  securityPlugin: string;
}

export function brokerCommand(): Command {
  const broker = new Command('broker').description('broker configurations with per-device topic rules for every device that has a certificate');

  withOutputOptions(broker.command('mosquitto').description('Mosquitto: TLS 1.3 only, client certificates, per-device topic rules ' +
    '(<dir>/brokers/mosquitto, regenerated from the PKI on every run)'))
    .option('--install-dir <path>', 'where the bundle is installed on the broker host', '/etc/mosquitto/x3dh')
    .option('--install', 'also copy the bundle into --install-dir, owned by --broker-user (run it on the broker host)', false)
    .option('--broker-user <name>', 'the user Mosquitto runs as', 'mosquitto')
    .option('--persistence-dir <path>', 'where Mosquitto saves sessions and queued messages (writable by the mosquitto user)', '/var/lib/mosquitto/')
    .option('--bind <address>', 'listen on this address only')
    .option('--port <port>', "devices' listener", parsePort, 8883)
    .option('--server-port <port>', "key server's listener (keep it off the VPN)", parsePort, 8884)
    .option('--ws-port <port>', "devices' MQTT-over-WebSocket listener (browser devices; TLS 1.3 and client certificates as on --port)", parsePort)
    .option('--v1-port <port>', 'enable wire protocol v1 for firmware without client certificates on this port', parsePort)
    .option('--server-identity <cn>', "the key server's certificate CN", DEFAULT_SERVER_IDENTITY)
    .option('--admin-identity <cn>', 'the certificate CN allowed to change the running broker\'s rules', DEFAULT_BROKER_ADMIN_IDENTITY)
    .option('--security-plugin <path>', "Mosquitto's dynamic security plugin on the broker host (it checks subscriptions; acl_file does not)", DEFAULT_SECURITY_PLUGIN)
    .action(async (options: BrokerOptions & MosquittoCommandOptions) => {
      const devices = await listCertifiedDevices(options.dir);
      // The bundle is derived from the PKI: replacing it is always safe, so no --force is needed.
      const target = await writeMosquittoBundle(options.dir, { ...options, webSocketPort: options.wsPort, devices }, { ...writeOptions(options), force: true });
      console.log(`Mosquitto bundle for ${devices.length} device(s) in ${target}`);
      if (options.install) {
        await installBundle(target, options.installDir, options.brokerUser, writeOptions(options).progress);
        console.log(`installed in ${options.installDir} for user ${options.brokerUser}; a running Mosquitto takes new rules from "broker mosquitto-apply"`);
      } else {
        console.log(`install it at ${options.installDir} (--install does it on the broker host), readable by the mosquitto user`);
      }
    });

  broker.command('mosquitto-apply')
    .description("bring a running Mosquitto's topic rules to the generated bundle's, without a restart: new devices get their rules, " +
      'revoked ones lose them and are disconnected (logs in as the broker administrator, see pki broker-admin)')
    .option('-d, --dir <path>', 'operator directory (PKI and the bundle of "broker mosquitto")', '.')
    .requiredOption('--broker-uri <uri>', "the broker's key server listener, e.g. mqtts://broker.example:8884")
    .option('--servername <name>', 'name to check in the broker certificate (default: the URI host)')
    .option('--dry-run', 'print the changes without making them', false)
    .action(async (options: { dir: string; brokerUri: string; servername?: string; dryRun: boolean }) => {
      const changes = await applyMosquittoRules(mosquittoBundleDir(options.dir), options.dir, options);
      if (changes.length === 0) console.log("the broker's rules already match the bundle");
      for (const change of changes) console.log(`${options.dryRun ? 'would run' : 'ran'} ${change}`);
      if (changes.length > 0) console.log(`${changes.length} change(s) ${options.dryRun ? 'planned' : 'applied'}`);
    });

  withOutputOptions(broker.command('rabbitmq').description('RabbitMQ: MQTT on TLS 1.3, x.509 login, per-device topic permissions (<dir>/brokers/rabbitmq)'))
    .option('--install-dir <path>', 'where certificates and definitions are installed on the broker host', '/etc/rabbitmq/x3dh')
    .option('--mqtt-port <port>', 'MQTT over TLS', parsePort, 8883)
    .option('--amqp-port <port>', 'AMQP over TLS (the key server)', parsePort, 5671)
    .option('--vhost <name>', 'virtual host for MQTT', 'x3dh')
    .option('--enable-v1', 'let firmware without a client certificate in as a v1-only user', false)
    .option('--server-identity <cn>', "the key server's certificate CN", DEFAULT_SERVER_IDENTITY)
    .action(async (options: BrokerOptions & { mqttPort: number; amqpPort: number; vhost: string; enableV1: boolean }) => {
      const devices = await listCertifiedDevices(options.dir);
      const v1Password = options.enableV1 ? randomBytes(24).toString('base64url') : undefined;
      const target = await writeRabbitMqBundle(options.dir, { ...options, devices, v1Password }, writeOptions(options));
      console.log(`RabbitMQ bundle for ${devices.length} device(s) in ${target}; rabbitmq.conf and enabled_plugins go to /etc/rabbitmq`);
    });

  withOutputOptions(broker.command('rabbitmq-sync').description("apply the devices' users and topic permissions to a running RabbitMQ cluster, live: adds devices that hold a certificate, deletes revoked ones"))
    .option('--rabbitmqctl <command>', 'how to run rabbitmqctl on a node, split at spaces (a program and its first arguments), e.g. "kubectl -n x3dh exec -i rabbitmq-0 -c rabbitmq -- rabbitmqctl"; or X3DH_RABBITMQCTL', process.env.X3DH_RABBITMQCTL ?? 'rabbitmqctl')
    .option('--vhost <name>', 'virtual host for MQTT', 'x3dh')
    .option('--enable-v1', 'devices get the v1 topics too (as `broker rabbitmq --enable-v1`)', false)
    .action(async (options: OutputOptions & { rabbitmqctl: string; vhost: string; enableV1: boolean }) => {
      const devices = await listCertifiedDevices(options.dir);
      const command = options.rabbitmqctl.split(' ').filter((part) => part !== '');
      const { added, deleted } = await syncRabbitMqDevices(command, { vhost: options.vhost, devices, v1: options.enableV1 }, writeOptions(options).progress);
      console.log(`${devices.length} device user(s) on the broker; ${added.length} added, ${deleted.length} deleted; nothing restarted`);
    });

  return broker;
}
