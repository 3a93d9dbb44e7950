import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ConnectionSettings } from './connection_settings.js';
import { DeviceError } from './errors.js';

/** The PEM material of a TLS connection, read and checked. */
export interface TlsFiles {
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

const settingsError = (message: string) => new DeviceError('INVALID_INPUT', message);

async function read(what: string, path: string | undefined): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (error) {
    throw settingsError(`cannot read the ${what} file ${path}: ${(error as Error).message}`);
  }
}

function certificates(what: string, path: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('utf8').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw settingsError(`the ${what} file ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw settingsError(`the ${what} file ${path} holds a certificate that cannot be parsed: ${(error as Error).message}`);
    }
  });
}

/**
 * Reads the CA, client certificate and key files and checks them before any connection: TLS would
 * otherwise ignore a file that is not PEM, or fail later with an OpenSSL message that names no file.
 */
export async function loadTlsFiles(settings: Pick<ConnectionSettings, 'caFile' | 'certFile' | 'keyFile'>, now = new Date()): Promise<TlsFiles> {
  const [ca, cert, key] = [
    await read('CA', settings.caFile), await read('client certificate', settings.certFile), await read('client key', settings.keyFile),
  ];
  if (ca) certificates('CA', settings.caFile!, ca);
  if ((cert === undefined) !== (key === undefined)) {
    throw settingsError('a client certificate and its key go together: give both --cert and --key, or neither');
  }
  if (cert && key) {
    const [leaf] = certificates('client certificate', settings.certFile!, cert);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(key);
    } catch (error) {
      throw settingsError(`the client key file ${settings.keyFile} holds no usable PEM private key: ${(error as Error).message}`);
    }
    if (!leaf!.checkPrivateKey(privateKey)) {
      throw settingsError(`the client key file ${settings.keyFile} does not belong to the certificate ${settings.certFile}`);
    }
    if (new Date(leaf!.validTo) < now) {
      throw settingsError(`the client certificate ${settings.certFile} expired on ${new Date(leaf!.validTo).toISOString()}: ask the operator for a new one`);
    }
  }
  return { ca, cert, key };
}

const UNTRUSTED_SERVER = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_SIGNATURE_FAILURE',
]);

/**
 * A failed connection as the user can act on it: which setting is wrong and what to do. Refusals
 * caused by the settings are INVALID_INPUT (exit code 2); a broker that cannot be reached is UNREACHABLE.
 */
export function describeConnectionFailure(error: Error, settings: ConnectionSettings): DeviceError {
  // The transport wraps the socket's error; its code is what tells the cases apart.
  const code = (error as { code?: string }).code ?? (error.cause as { code?: string } | undefined)?.code;
  const text = error.message;
  const where = (() => {
    try {
      return new URL(settings.brokerUrl).host;
    } catch {
      return settings.brokerUrl;
    }
  })();
  const certificate = settings.certFile === undefined ? 'client certificate' : `client certificate ${settings.certFile}`;
  const settingsProblem = (message: string) => new DeviceError('INVALID_INPUT', message, { cause: error });
  if (/certificate required/i.test(text)) {
    return settingsProblem(`the broker at ${where} requires a client certificate: give --cert and --key (the operator issues them: x3dh-ops pki device <name>)`);
  }
  if (/alert unknown ca|alert bad certificate/i.test(text)) {
    return settingsProblem(`the broker at ${where} does not accept the ${certificate}: it was not issued by the broker's CA`);
  }
  if (/certificate revoked/i.test(text)) {
    return settingsProblem(`the broker at ${where} refused the ${certificate}: it has been revoked`);
  }
  if (code !== undefined && UNTRUSTED_SERVER.has(code)) {
    const trusted = settings.caFile ? `the CA in ${settings.caFile}` : 'a CA this system trusts (give the deployment\'s CA with --ca)';
    return settingsProblem(`the broker at ${where} presented a certificate not signed by ${trusted}`);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return settingsProblem(`the broker's certificate is not issued for ${where}: connect by a name or address the certificate lists`);
  }
  if (code === 'CERT_HAS_EXPIRED') return settingsProblem(`the broker at ${where} presented an expired certificate`);
  if (/not authori[sz]ed|bad user name or password|client identifier not valid/i.test(text)) {
    return settingsProblem(`the broker at ${where} refused the connection (${text}): the client certificate must name this device`);
  }
  if (code === 'ECONNREFUSED') return new DeviceError('UNREACHABLE', `nothing accepts connections at ${where}: is the broker running, and is --broker right?`, { cause: error });
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new DeviceError('UNREACHABLE', `cannot resolve the broker's host in ${settings.brokerUrl}`, { cause: error });
  return new DeviceError('UNREACHABLE', `cannot connect to the broker at ${where}: ${text}`, { cause: error });
}
