import { Command } from 'commander';
import { DEFAULT_SERVER_IDENTITY, initCertificateAuthority, issueBrokerCertificate, issueDeviceCertificates, issueServerClientCertificate } from '../pki/pki_operations.js';
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
      await issueServerClientCertificate(options.dir, { ...writeOptions(options), identity: options.identity, days: options.days });
    });

  withOutputOptions(pki.command('device').description('issue one client certificate per device; the subject CN is the device name'))
    .argument('<devices...>', 'device names')
    .option('--days <n>', 'validity in days', parsePositiveInteger, 825)
    .option('--server-identity <cn>', 'the key server identity, which no device may take', DEFAULT_SERVER_IDENTITY)
    .action(async (devices: string[], options: OutputOptions & { days: number; serverIdentity: string }) => {
      await issueDeviceCertificates(options.dir, devices, { ...writeOptions(options), days: options.days, reserved: [options.serverIdentity] });
    });

  withOutputOptions(pki.command('revoke').description('revoke device certificates: CRL for the brokers, keys deleted, no more broker rules'))
    .argument('<devices...>', 'device names')
    .option('--crl-days <n>', 'validity of the CRL in days (brokers refuse every client once it has expired)', parsePositiveInteger, 3650)
    .action(async (devices: string[], options: OutputOptions & { crlDays: number }) => {
      await revokeDevices(options.dir, devices, { ...writeOptions(options), crlDays: options.crlDays });
      console.log('regenerate the broker configuration (broker mosquitto / broker rabbitmq / k8s-secrets) to apply it');
    });

  return pki;
}
