import { readdir, readFile } from 'node:fs/promises';
import { assertDeviceName } from '../device_name.js';
import { PUBLIC_FILE_MODE, SECRET_FILE_MODE, writeOutputFiles, type OutputFile, type Progress } from '../files/output_file.js';
import { CertificateAuthority, type IssuedCertificate } from './certificate_authority.js';
import { pkiLayout } from './pki_layout.js';

/** Common name of the key server's own MQTT client certificate; no device may take it. */
export const DEFAULT_SERVER_IDENTITY = 'x3dh-server';
/** Common name of the certificate that changes a running broker's rules; no device may take it. */
export const DEFAULT_BROKER_ADMIN_IDENTITY = 'x3dh-broker-admin';

export interface WriteOptions {
  force: boolean;
  progress: Progress;
}

function pair(certPath: string, keyPath: string, issued: IssuedCertificate): OutputFile[] {
  return [
    { path: certPath, contents: issued.certificatePem, mode: PUBLIC_FILE_MODE },
    { path: keyPath, contents: issued.privateKeyPem, mode: SECRET_FILE_MODE },
  ];
}

export async function initCertificateAuthority(dir: string, options: WriteOptions & { commonName: string; days: number }): Promise<void> {
  const layout = pkiLayout(dir);
  const { issued } = await CertificateAuthority.create(options.commonName, options.days);
  await writeOutputFiles(pair(layout.caCert, layout.caKey, issued), options);
}

export async function loadCertificateAuthority(dir: string): Promise<CertificateAuthority> {
  const layout = pkiLayout(dir);
  try {
    return await CertificateAuthority.fromPem(await readFile(layout.caCert, 'utf8'), await readFile(layout.caKey, 'utf8'));
  } catch (error) {
    throw new Error(`cannot load the CA from ${layout.caCert} and ${layout.caKey} (run "pki init" first)`, { cause: error });
  }
}

export async function issueBrokerCertificate(
  dir: string,
  options: WriteOptions & { dnsNames: string[]; ipAddresses: string[]; days: number },
): Promise<void> {
  const layout = pkiLayout(dir);
  const ca = await loadCertificateAuthority(dir);
  const commonName = options.dnsNames[0] ?? options.ipAddresses[0] ?? 'x3dh-broker';
  const issued = await ca.issueServer({ commonName, dnsNames: options.dnsNames, ipAddresses: options.ipAddresses, days: options.days });
  await writeOutputFiles(pair(layout.brokerCert, layout.brokerKey, issued), options);
}

/** A client certificate of a service (the key server, the broker administrator), CN = its identity. */
export async function issueServiceClientCertificate(
  dir: string,
  service: 'key-server' | 'broker-admin',
  options: WriteOptions & { identity: string; days: number },
): Promise<void> {
  const layout = pkiLayout(dir);
  const ca = await loadCertificateAuthority(dir);
  const issued = await ca.issueClient({ commonName: options.identity, days: options.days });
  const [cert, key] = service === 'key-server'
    ? [layout.serverClientCert, layout.serverClientKey]
    : [layout.brokerAdminCert, layout.brokerAdminKey];
  await writeOutputFiles(pair(cert, key, issued), options);
}

/** One client certificate per device; the subject CN is the device name. */
export async function issueDeviceCertificates(
  dir: string,
  devices: string[],
  options: WriteOptions & { days: number; reserved: string[] },
): Promise<void> {
  for (const device of devices) assertDeviceName(device, options.reserved);
  const layout = pkiLayout(dir);
  const ca = await loadCertificateAuthority(dir);
  const files: OutputFile[] = [];
  for (const device of devices) {
    files.push(...pair(layout.deviceCert(device), layout.deviceKey(device), await ca.issueClient({ commonName: device, days: options.days })));
  }
  await writeOutputFiles(files, options);
}

/** Devices that hold a certificate, by name: the broker rules are generated for exactly these. */
export async function listCertifiedDevices(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(pkiLayout(dir).devicesDir);
  } catch {
    return [];
  }
  return entries.filter((name) => name.endsWith('.crt')).map((name) => name.slice(0, -'.crt'.length)).sort();
}
