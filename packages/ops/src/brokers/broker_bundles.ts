import { join } from 'node:path';
import { readRequired } from '../files/read_required.js';
import { pathExists, PUBLIC_FILE_MODE, SECRET_FILE_MODE, writeOutputFiles, type OutputFile } from '../files/output_file.js';
import type { WriteOptions } from '../pki/pki_operations.js';
import { pkiLayout } from '../pki/pki_layout.js';
import { MOSQUITTO_FILES, mosquittoConfig, type MosquittoOptions } from './mosquitto_config.js';
import { mosquittoSecurityRules } from './mosquitto_security_rules.js';
import { RABBITMQ_FILES, rabbitMqConfig, rabbitMqDefinitions, rabbitMqPlugins, rabbitMqV1Config, type RabbitMqOptions } from './rabbitmq_config.js';

export const mosquittoBundleDir = (dir: string): string => join(dir, 'brokers', 'mosquitto');
export const rabbitMqBundleDir = (dir: string): string => join(dir, 'brokers', 'rabbitmq');

/** The CA certificate and the broker's certificate and key, copied into a broker bundle. */
async function brokerTlsFiles(dir: string, target: string, names: { ca: string; cert: string; key: string }): Promise<OutputFile[]> {
  const layout = pkiLayout(dir);
  const read = (path: string) => readRequired(path, 'run "pki init" and "pki broker" first');
  return [
    { path: join(target, names.ca), contents: await read(layout.caCert), mode: PUBLIC_FILE_MODE },
    { path: join(target, names.cert), contents: await read(layout.brokerCert), mode: PUBLIC_FILE_MODE },
    { path: join(target, names.key), contents: await read(layout.brokerKey), mode: SECRET_FILE_MODE },
  ];
}

/** A directory to install as a whole at `installDir`: configuration, topic rules, certificates. */
export async function writeMosquittoBundle(dir: string, settings: MosquittoOptions, write: WriteOptions): Promise<string> {
  const target = mosquittoBundleDir(dir);
  const crl = pkiLayout(dir).crl;
  // Once any device has been revoked, every certificate listener checks the CRL.
  const options = { ...settings, crl: await pathExists(crl) };
  const files: OutputFile[] = [
    { path: join(target, MOSQUITTO_FILES.config), contents: mosquittoConfig(options), mode: PUBLIC_FILE_MODE },
    ...(options.crl ? [{ path: join(target, MOSQUITTO_FILES.crl), contents: await readRequired(crl, 'pki revoke'), mode: PUBLIC_FILE_MODE }] : []),
    { path: join(target, MOSQUITTO_FILES.rules), contents: mosquittoSecurityRules({ ...options, v1: options.v1Port !== undefined }), mode: PUBLIC_FILE_MODE },
    ...(await brokerTlsFiles(dir, target, MOSQUITTO_FILES)),
  ];
  await writeOutputFiles(files, write);
  return target;
}

export async function writeRabbitMqBundle(dir: string, options: RabbitMqOptions, write: WriteOptions): Promise<string> {
  const target = rabbitMqBundleDir(dir);
  const files: OutputFile[] = [
    { path: join(target, RABBITMQ_FILES.config), contents: rabbitMqConfig(options), mode: PUBLIC_FILE_MODE },
    { path: join(target, RABBITMQ_FILES.plugins), contents: rabbitMqPlugins(options), mode: PUBLIC_FILE_MODE },
    // Carries the v1 user's password hash when v1 is enabled.
    { path: join(target, RABBITMQ_FILES.definitions), contents: rabbitMqDefinitions(options), mode: SECRET_FILE_MODE },
    ...(options.v1Password !== undefined ? [{ path: join(target, RABBITMQ_FILES.v1Config), contents: rabbitMqV1Config(options.v1Password), mode: SECRET_FILE_MODE }] : []),
    ...(await brokerTlsFiles(dir, target, RABBITMQ_FILES)),
  ];
  await writeOutputFiles(files, write);
  return target;
}
