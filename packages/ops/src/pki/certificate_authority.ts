import 'reflect-metadata';
import { isIP } from 'node:net';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { generateEcKeyPair, pemFile, privateKeyFromPem, privateKeyToPem, SIGNING_ALGORITHM } from './ec_keys.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const DAY_MS = 24 * 60 * 60 * 1000;

export interface IssuedCertificate {
  certificatePem: string;
  privateKeyPem: string;
}

export interface ServerCertificateRequest {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  days: number;
}

export interface ClientCertificateRequest {
  /** The identity the broker sees (`use_identity_as_username`, `ssl_cert_login`). */
  commonName: string;
  days: number;
}

/** Positive 127-bit serial: unique without bookkeeping and never read as negative. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  // Back-dated a little so a device whose clock lags slightly accepts a fresh certificate.
  const notBefore = new Date(Date.now() - 5 * 60 * 1000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * DAY_MS) };
}

/** A private CA for the broker, the key server and the devices. */
export class CertificateAuthority {
  private constructor(
    private readonly certificate: x509.X509Certificate,
    private readonly signingKey: CryptoKey,
  ) {}

  static async create(commonName: string, days: number): Promise<{ ca: CertificateAuthority; issued: IssuedCertificate }> {
    const keys = await generateEcKeyPair();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: [{ CN: [commonName] }],
      keys,
      signingAlgorithm: SIGNING_ALGORITHM,
      ...validity(days),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return {
      ca: new CertificateAuthority(certificate, keys.privateKey),
      issued: { certificatePem: pemFile(certificate.toString('pem')), privateKeyPem: await privateKeyToPem(keys.privateKey) },
    };
  }

  static async fromPem(certificatePem: string, privateKeyPem: string): Promise<CertificateAuthority> {
    return new CertificateAuthority(new x509.X509Certificate(certificatePem), await privateKeyFromPem(privateKeyPem));
  }

  /**
   * A TLS server certificate. Clients that connect by IP address (the firmware does) need the address
   * in the subjectAltName: Node refuses a certificate that only has a matching common name.
   */
  issueServer(request: ServerCertificateRequest): Promise<IssuedCertificate> {
    if (request.dnsNames.length + request.ipAddresses.length === 0) {
      throw new Error('a server certificate needs at least one DNS name or IP address');
    }
    for (const ip of request.ipAddresses) {
      if (isIP(ip) === 0) throw new Error(`not an IP address: ${ip}`);
    }
    const names: x509.JsonGeneralName[] = [
      ...request.dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...request.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ];
    return this.issue(request.commonName, request.days, x509.ExtendedKeyUsage.serverAuth, [
      new x509.SubjectAlternativeNameExtension(names, false),
    ]);
  }

  issueClient(request: ClientCertificateRequest): Promise<IssuedCertificate> {
    return this.issue(request.commonName, request.days, x509.ExtendedKeyUsage.clientAuth, []);
  }

  /** A CRL listing the revoked serial numbers (hex); valid for `days`. */
  async issueCrl(entries: Array<{ serialNumber: string; revocationDate: Date }>, days: number): Promise<string> {
    const { notBefore: thisUpdate, notAfter: nextUpdate } = validity(days);
    const crl = await x509.X509CrlGenerator.create({
      issuer: this.certificate.subjectName,
      thisUpdate,
      nextUpdate,
      signingKey: this.signingKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      entries: entries.map((entry) => ({ ...entry, reason: x509.X509CrlReason.cessationOfOperation })),
      extensions: [await x509.AuthorityKeyIdentifierExtension.create(this.certificate)],
    });
    // OpenSSL (Mosquitto, RabbitMQ) reads only the "X509 CRL" PEM label.
    return pemFile(x509.PemConverter.encode(crl.rawData, 'X509 CRL'));
  }

  private async issue(commonName: string, days: number, usage: string, extra: x509.Extension[]): Promise<IssuedCertificate> {
    const keys = await generateEcKeyPair();
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: [{ CN: [commonName] }],
      issuer: this.certificate.subjectName,
      publicKey: keys.publicKey,
      signingKey: this.signingKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      ...validity(days),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([usage], false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.certificate),
        ...extra,
      ],
    });
    return { certificatePem: pemFile(certificate.toString('pem')), privateKeyPem: await privateKeyToPem(keys.privateKey) };
  }
}
