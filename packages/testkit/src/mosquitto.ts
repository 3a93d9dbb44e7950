import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free_port.js';
import { createTestCertificates, type TestCertificates } from './test_certificates.js';

export interface MosquittoOptions {
  /** TLS 1.3 only, with a fresh test CA (default true); false listens on plain TCP. */
  tls?: boolean;
  /** Require a client certificate signed by the test CA (TLS only). */
  requireClientCertificate?: boolean;
  /** Client certificates to issue, by common name. */
  clientNames?: readonly string[];
  /** Lines appended to the generated mosquitto.conf (acl_file, use_identity_as_username, ...). */
  extraConfig?: string;
  /** Port to listen on (default: a free one), e.g. one a server was told to use before the broker started. */
  port?: number;
  /** Path of the mosquitto binary (default: $MOSQUITTO_BIN, mosquitto on PATH, or /usr/sbin/mosquitto). */
  binary?: string;
}

export interface MosquittoBroker {
  /** mqtts://127.0.0.1:PORT with TLS, mqtt://127.0.0.1:PORT without. */
  url: string;
  port: number;
  /** Certificates (TLS only): pass `certificates.ca` as the client's CA. */
  certificates: TestCertificates | undefined;
  dir: string;
  /** The running broker process (a new one after restart()). */
  readonly process: ChildProcess;
  /** Stops the broker and starts it again on the same port with the same certificates: every client is disconnected. */
  restart(): Promise<void>;
  /** Stops the broker (SIGTERM, then SIGKILL after 3 s) and removes its directory. */
  stop(): Promise<void>;
}

function mosquittoBinary(): string {
  if (process.env.MOSQUITTO_BIN) return process.env.MOSQUITTO_BIN;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat('/usr/sbin')) {
    const candidate = path.join(dir, 'mosquitto');
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error('mosquitto not found: install it (apt-get install mosquitto) or set MOSQUITTO_BIN');
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}:\n${output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`mosquitto did not listen on port ${port} within 10 s:\n${output()}`);
}

export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts a private Mosquitto on a free loopback port with a generated configuration: TLS 1.3 only
 * (`tls_version tlsv1.3`) with a fresh test CA, Nagle off (`set_tcp_nodelay true`: with it on every
 * request/response waits ~40 ms), anonymous clients allowed, no persistence.
 */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const tls = options.tls ?? true;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-mosquitto-'));
  fs.chmodSync(dir, 0o755);
  const certificates = tls ? createTestCertificates(path.join(dir, 'certs'), options.clientNames) : undefined;
  const port = options.port ?? await freePort();
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'set_tcp_nodelay true',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'max_queued_messages 100000',
  ];
  if (certificates) {
    lines.push(
      `cafile ${certificates.caFile}`,
      `certfile ${certificates.server.certFile}`,
      `keyfile ${certificates.server.keyFile}`,
      'tls_version tlsv1.3',
      `require_certificate ${options.requireClientCertificate ? 'true' : 'false'}`,
    );
  }
  if (options.extraConfig) lines.push(options.extraConfig);
  const configFile = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(configFile, `${lines.join('\n')}\n`, { mode: 0o644 });

  const binary = options.binary ?? mosquittoBinary();
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn(binary, ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    try {
      await waitForPort(port, child, () => stderr);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    return child;
  };
  let child: ChildProcess;
  try {
    child = await launch();
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `${tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    port,
    certificates,
    dir,
    get process() {
      return child;
    },
    restart: async () => {
      await stopChild(child);
      child = await launch();
    },
    stop: async () => {
      await stopChild(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
