import { join } from 'node:path';

/** Where the certificate authority and every certificate it issued live under an operator directory. */
export interface PkiLayout {
  caCert: string;
  caKey: string;
  brokerCert: string;
  brokerKey: string;
  serverClientCert: string;
  serverClientKey: string;
  brokerAdminCert: string;
  brokerAdminKey: string;
  devicesDir: string;
  deviceCert(device: string): string;
  deviceKey(device: string): string;
  /** Revoked certificates, the list of revocations and the CRL the brokers check. */
  revokedDir: string;
  revocations: string;
  crl: string;
}

export function pkiLayout(operatorDir: string): PkiLayout {
  const root = join(operatorDir, 'pki');
  const devicesDir = join(root, 'devices');
  return {
    caCert: join(root, 'ca.crt'),
    caKey: join(root, 'ca.key'),
    brokerCert: join(root, 'broker.crt'),
    brokerKey: join(root, 'broker.key'),
    serverClientCert: join(root, 'server-client.crt'),
    serverClientKey: join(root, 'server-client.key'),
    brokerAdminCert: join(root, 'broker-admin.crt'),
    brokerAdminKey: join(root, 'broker-admin.key'),
    devicesDir,
    deviceCert: (device) => join(devicesDir, `${device}.crt`),
    deviceKey: (device) => join(devicesDir, `${device}.key`),
    revokedDir: join(root, 'revoked'),
    revocations: join(root, 'revocations.json'),
    crl: join(root, 'ca.crl'),
  };
}
