import { webcrypto } from 'node:crypto';
import { PemConverter } from '@peculiar/x509';

/** ECDSA over P-256: supported by mbedTLS on the ESP32, Mosquitto, RabbitMQ and Node alike. */
export const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

export function generateEcKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

/** PEM text as files hold it: LF line ends and a final newline. */
export function pemFile(pem: string): string {
  return `${pem.replace(/\r\n/g, '\n').trim()}\n`;
}

/** PKCS#8 PEM (`PRIVATE KEY`), which OpenSSL, mbedTLS and Node all read. */
export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  return pemFile(PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY'));
}

export function privateKeyFromPem(pem: string): Promise<CryptoKey> {
  const [der] = PemConverter.decode(pem);
  if (!der) throw new Error('no PEM block found in private key file');
  return webcrypto.subtle.importKey('pkcs8', der, EC_ALGORITHM, false, ['sign']);
}
