import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface TestCertificates {
  dir: string;
  caFile: string;
  ca: string;
  /** For 127.0.0.1, ::1 and localhost. */
  server: CertificateFiles;
  /** Client certificates by common name. */
  clients: Record<string, CertificateFiles>;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: 'pipe' });

function issue(dir: string, name: string, subject: string, extensions: string): CertificateFiles {
  const extFile = path.join(dir, `${name}.ext`);
  fs.writeFileSync(extFile, extensions);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-out', `${name}.crt`, '-extfile', extFile], dir);
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  return { certFile, keyFile, cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
}

const CLIENT_EXTENSIONS = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n';

/**
 * A client certificate with common name `name` from the CA of createTestCertificates in `dir`,
 * issued on first use (a device certificate, say) and read from `dir` afterwards.
 */
export function issueClientCertificate(dir: string, name: string): CertificateFiles {
  const base = `client-${name}`;
  const certFile = path.join(dir, `${base}.crt`);
  const keyFile = path.join(dir, `${base}.key`);
  if (!fs.existsSync(certFile)) return issue(dir, base, `/CN=${name}`, CLIENT_EXTENSIONS);
  return { certFile, keyFile, cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
}

/**
 * A throw-away CA with a server certificate (subjectAltName 127.0.0.1, ::1, localhost: Node refuses
 * a certificate without one when connecting by IP) and optional client certificates, made with the
 * openssl CLI in `dir`. Every file is world-readable: Mosquitto started as root reads them as the
 * `mosquitto` user. Test use only.
 */
export function createTestCertificates(dir: string, clientNames: readonly string[] = []): TestCertificates {
  fs.mkdirSync(dir, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=x3dh-iot test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const server = issue(dir, 'server', '/CN=localhost',
    'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=CA:FALSE\n' +
    'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  const clients = Object.fromEntries(clientNames.map((name) => [name, issueClientCertificate(dir, name)]));
  fs.chmodSync(dir, 0o755);
  for (const file of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, file), 0o644);
  const caFile = path.join(dir, 'ca.crt');
  return { dir, caFile, ca: fs.readFileSync(caFile, 'utf8'), server, clients };
}
