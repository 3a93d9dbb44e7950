import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { writeMosquittoBundle, writeRabbitMqBundle } from '../brokers/broker_bundles.js';
import { DEFAULT_SECURITY_PLUGIN } from '../brokers/mosquitto_config.js';
import { DEFAULT_SERVER_IDENTITY, listCertifiedDevices } from '../pki/pki_operations.js';
import { parsePort, withOutputOptions, writeOptions, type OutputOptions } from './common_options.js';

interface BrokerOptions extends OutputOptions {
  installDir: string;
  serverIdentity: string;
}

export function brokerCommand(): Command {
  const broker = new Command('broker').description('broker configurations with per-device topic rules for every device that has a certificate');

  withOutputOptions(broker.command('mosquitto').description('Mosquitto: TLS 1.3 only, client certificates, per-device topic rules (<dir>/brokers/mosquitto)'))
    .option('--install-dir <path>', 'where the bundle is installed on the broker host', '/etc/mosquitto/x3dh')
    .option('--persistence-dir <path>', 'where Mosquitto saves sessions and queued messages (writable by the mosquitto user)', '/var/lib/mosquitto/')
    .option('--bind <address>', 'listen on this address only')
    .option('--port <port>', "devices' listener", parsePort, 8883)
    .option('--server-port <port>', "key server's listener (keep it off the VPN)", parsePort, 8884)
    .option('--ws-port <port>', "devices' MQTT-over-WebSocket listener (browser devices; TLS 1.3 and client certificates as on --port)", parsePort)
    .option('--v1-port <port>', 'enable wire protocol v1 for firmware without client certificates on this port', parsePort)
    .option('--server-identity <cn>', "the key server's certificate CN", DEFAULT_SERVER_IDENTITY)
    .option('--security-plugin <path>', "Mosquitto's dynamic security plugin on the broker host (it checks subscriptions; acl_file does not)", DEFAULT_SECURITY_PLUGIN)
    .action(async (options: BrokerOptions & { persistenceDir: string; bind?: string; port: number; serverPort: number; wsPort?: number; v1Port?: number; securityPlugin: string }) => {
      const devices = await listCertifiedDevices(options.dir);
      const target = await writeMosquittoBundle(options.dir, { ...options, webSocketPort: options.wsPort, devices }, writeOptions(options));
      console.log(`Mosquitto bundle for ${devices.length} device(s) in ${target}; install it at ${options.installDir}, readable by the mosquitto user`);
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

  return broker;
}
