import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { PUBLIC_FILE_MODE, pathExists, writeOutputFiles } from '../files/output_file.js';
import { readRequired } from '../files/read_required.js';
import { pkiLayout } from './pki_layout.js';
import { loadCertificateAuthority, type WriteOptions } from './pki_operations.js';

const revocationsSchema = z.array(z.object({ device: z.string(), serialNumber: z.string(), revokedAt: z.string() }));

/**
 * Revokes devices: their certificates go to the CRL (`pki/ca.crl`, which generated broker
 * configurations check) and to `pki/revoked/`, their keys are deleted, and broker rules generated
 * afterwards no longer name them. A device can get a new certificate later (`pki device`).
 */
export async function revokeDevices(dir: string, devices: string[], options: WriteOptions & { crlDays: number }): Promise<void> {
  const layout = pkiLayout(dir);
  const ca = await loadCertificateAuthority(dir);
  const revocations = (await pathExists(layout.revocations))
    ? revocationsSchema.parse(JSON.parse(await readFile(layout.revocations, 'utf8')))
    : [];
  const certificates = await Promise.all(devices.map(async (device) => ({
    device,
    certificate: new X509Certificate(await readRequired(layout.deviceCert(device), `${device} has no certificate to revoke`)),
  })));
  const revokedAt = new Date();
  for (const { device, certificate } of certificates) revocations.push({ device, serialNumber: certificate.serialNumber, revokedAt: revokedAt.toISOString() });

  const crl = await ca.issueCrl(revocations.map((entry) => ({ serialNumber: entry.serialNumber, revocationDate: new Date(entry.revokedAt) })), options.crlDays);
  await writeOutputFiles(
    [
      { path: layout.crl, contents: crl, mode: PUBLIC_FILE_MODE },
      { path: layout.revocations, contents: `${JSON.stringify(revocations, null, 2)}\n`, mode: PUBLIC_FILE_MODE },
    ],
    { ...options, force: true },
  );
  await mkdir(layout.revokedDir, { recursive: true, mode: 0o700 });
  for (const { device, certificate } of certificates) {
    await rename(layout.deviceCert(device), join(layout.revokedDir, `${device}-${certificate.serialNumber}.crt`));
    await rm(layout.deviceKey(device), { force: true });
    options.progress(`revoked ${device} (serial ${certificate.serialNumber})`);
  }
}
