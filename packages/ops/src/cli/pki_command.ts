import { Command, Option } from 'commander';
import {
  DEFAULT_BROKER_ADMIN_IDENTITY, DEFAULT_SERVER_IDENTITY, initCertificateAuthority, issueBrokerCertificate, issueDeviceCertificates,
  issueServiceClientCertificate,
} from '../pki/pki_operations.js';
import { DEFAULT_KEY_SERVER_COMMAND, disableOnKeyServer } from '../pki/disable_on_key_server.js';
import { revokeDevices } from '../pki/revoke_devices.js';
import { collect, parsePositiveInteger, withOutputOptions, writeOptions, type OutputOptions } from './common_options.js';

export function pkiCommand(): Command {
  const pki = new Command('pki').description('certificate authority and P-256 certificates for the broker, the key server and devices');

  withOutputOptions(pki.command('init').description('create the certificate authority'))
    .option('--name <cn>', 'CA common name', 'x3dh-iot CA')
    .option('--days <n>', 'validity in days', parsePositiveInteger, 3650)
    .action(async (options: OutputOptions & { name: string; days: number }) => {
      await initCertificateAuthority(options.dir, { ...writeOptions(options), commonName: options.name, days: options.days });
    });

  withOutputOptions(pki.command('broker').description('issue the broker TLS server certificate (subjectAltNames from --dns and --ip)'))
    .option('--dns <name>', 'DNS subjectAltName (repeatable)', collect, [])
    .option('--ip <address>', 'IP subjectAltName (repeatable); devices connecting by address need it', collect, [])
    .option('--days <n>', 'validity in days', parsePositiveInteger, 825)
    .action(async (options: OutputOptions & { dns: string[]; ip: string[]; days: number }) => {
      await issueBrokerCertificate(options.dir, { ...writeOptions(options), dnsNames: options.dns, ipAddresses: options.ip, days: options.days });
    });

  withOutputOptions(pki.command('server-client').description("issue the key server's MQTT client certificate"))
    .option('--identity <cn>', 'common name (the broker user name of the key server)', DEFAULT_SERVER_IDENTITY)
    .option('--days <n>', 'validity in days', parsePositiveInteger, 825)
    .action(async (options: OutputOptions & { identity: string; days: number }) => {
      await issueServiceClientCertificate(options.dir, 'key-server', { ...writeOptions(options), identity: options.identity, days: options.days });
    });

  withOutputOptions(pki.command('broker-admin').description("issue the broker administrator's MQTT client certificate (broker mosquitto-apply uses it)"))
    .option('--identity <cn>', 'common name (the only identity allowed to change the running broker\'s rules)', DEFAULT_BROKER_ADMIN_IDENTITY)
    .option('--days <n>', 'validity in days', parsePositiveInteger, 825)
    .action(async (options: OutputOptions & { identity: string; days: number }) => {
      await issueServiceClientCertificate(options.dir, 'broker-admin', { ...writeOptions(options), identity: options.identity, days: options.days });
    });

  withOutputOptions(pki.command('device').description('issue one client certificate per device; the subject CN is the device name'))
    .argument('<devices...>', 'device names')
    .option('--days <n>', 'validity in days', parsePositiveInteger, 825)
    .option('--server-identity <cn>', 'the key server identity, which no device may take', DEFAULT_SERVER_IDENTITY)
    .option('--admin-identity <cn>', 'the broker administrator identity, which no device may take', DEFAULT_BROKER_ADMIN_IDENTITY)
    .action(async (devices: string[], options: OutputOptions & { days: number; serverIdentity: string; adminIdentity: string }) => {
      await issueDeviceCertificates(options.dir, devices, {
        ...writeOptions(options), days: options.days, reserved: [options.serverIdentity, options.adminIdentity],
      });
    });

  withOutputOptions(pki.command('revoke').description('revoke devices: disabled on the key server first (x3dh-server device disable), ' +
    'then their certificates go to the CRL for the brokers, keys deleted, no more broker rules'))
    .argument('<devices...>', 'device names')
    .option('--crl-days <n>', 'validity of the CRL in days (brokers refuse every client once it has expired)', parsePositiveInteger, 3650)
    .addOption(new Option('--key-server-command <command>', 'the key server command that disables the devices, run with ' +
      '"device disable NAME" and the store of X3DH_DATABASE_URL or X3DH_DATA_DIR').env('X3DH_KEY_SERVER_COMMAND').default(DEFAULT_KEY_SERVER_COMMAND))
    .option('--certificate-only', 'revoke the certificates without the key server step (devices never enrolled there)', false)
    .action(async (devices: string[], options: OutputOptions & { crlDays: number; keyServerCommand: string; certificateOnly: boolean }) => {
      // The key server first: should it fail, nothing is revoked and the command can simply run again.
      if (!options.certificateOnly) await disableOnKeyServer(options.keyServerCommand, devices, writeOptions(options).progress);
      await revokeDevices(options.dir, devices, { ...writeOptions(options), crlDays: options.crlDays });
      console.log('regenerate the broker configuration (broker mosquitto, then broker mosquitto-apply on a running Mosquitto / broker rabbitmq / k8s-secrets) to apply it');
    });

  return pki;
}
