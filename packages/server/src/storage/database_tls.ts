import fs from 'node:fs';
import { parse } from 'pg-connection-string';
import { isLoopbackHost, PlainTextRefusedError } from '../plain_text_policy.js';
import { parsePostgresHosts } from './postgres_hosts.js';

export interface DatabaseTlsFiles {
  /** PEM CA the database server's certificate must chain to; its name must match the URL's host. */
  caFile: string | undefined;
  /** PEM client certificate and key, for `cert` authentication (optional). */
  certFile: string | undefined;
  keyFile: string | undefined;
}

export interface DatabaseTls {
  ca: string;
  cert?: string | undefined;
  key?: string | undefined;
  rejectUnauthorized: true;
}

/**
 * The TLS settings of the PostgreSQL connection: from --database-ca (and --database-cert/-key), or
 * from the URL's own `sslmode=verify-full&sslrootcert=...`, which pg applies itself. A connection
 * without a verified certificate to a host beyond loopback is refused unless `allowPlainText`
 * (--allow-insecure-database): `sslmode=require` and `no-verify` encrypt without knowing whom to.
 */
export function databaseTls(url: string, files: DatabaseTlsFiles, allowPlainText: boolean): DatabaseTls | undefined {
  // Every host of a multi-host URL is held to the same rule; they share their settings.
  return parsePostgresHosts(url).urls.map((hostUrl) => hostTls(hostUrl, files, allowPlainText))[0];
}

function hostTls(url: string, files: DatabaseTlsFiles, allowPlainText: boolean): DatabaseTls | undefined {
  const fromUrl = parse(url);
  const host = fromUrl.host ?? 'localhost';
  if (files.caFile !== undefined) {
    if (fromUrl.ssl !== undefined || fromUrl.sslmode !== undefined) {
      throw new PlainTextRefusedError('--database-ca and TLS settings in --database-url (sslmode, sslrootcert) exclude each other: give one of them');
    }
    const read = (file: string | undefined) => (file === undefined ? undefined : fs.readFileSync(file, 'utf8'));
    return { ca: read(files.caFile)!, cert: read(files.certFile), key: read(files.keyFile), rejectUnauthorized: true };
  }
  if (files.certFile !== undefined || files.keyFile !== undefined) throw new PlainTextRefusedError('--database-cert and --database-key need --database-ca');
  // pg 8 takes sslmode require, prefer and verify-ca as verify-full unless uselibpqcompat is set.
  const verified = typeof fromUrl.ssl === 'object' && fromUrl.ssl.rejectUnauthorized !== false;
  if (verified || allowPlainText || isLoopbackHost(host)) return undefined;
  throw new PlainTextRefusedError(`--database-url: the connection to ${host} would not verify the database's certificate: give ` +
    '--database-ca <file> (or sslmode=verify-full&sslrootcert=<file> in the URL), or --allow-insecure-database ' +
    'if the network path is protected otherwise');
}
