import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './free_port.js';

export interface PrivatePostgres {
  /** URL of the cluster's `postgres` database (trust authentication on 127.0.0.1). */
  url: string;
  port: number;
  /** Ends recovery of a standby (`pg_ctl promote`): it takes writes from then on. */
  promote(): Promise<void>;
  /** SIGKILL to the postmaster and every backend at once: a crash, with no checkpoint or shutdown. */
  crash(): Promise<void>;
  /** Starts the cluster again on the same directory and port (it runs crash recovery from its WAL). */
  restart(): Promise<void>;
  /** Stops the cluster and deletes its directory. */
  destroy(): Promise<void>;
}

/** The directory of `initdb` and `postgres`: Debian keeps them out of PATH, under /usr/lib/postgresql/<version>/bin. */
function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
  if (versions.length > 0) return path.join(root, versions.sort((a, b) => Number(b) - Number(a))[0]!, 'bin');
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('PostgreSQL server binaries (initdb, postgres) not found: install the postgresql package');
  }
}

/** PostgreSQL refuses to run as root; as root, the cluster belongs to the `postgres` user. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
  return { uid, gid };
}

async function waitUntilReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}:\n${output()}`);
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw new Error(`postgres not ready in 60 s:\n${output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export interface PrivatePostgresOptions {
  /** PEM server certificate and key files: the cluster then also accepts TLS (`ssl = on`). */
  tls?: { certFile: string; keyFile: string } | undefined;
  /** Port to listen on (default: a free one), e.g. one a server was told to use before the database started. */
  port?: number | undefined;
  /** Server settings given on the command line (`-c name=value`), which a base backup does not copy. */
  settings?: Record<string, string> | undefined;
  /**
   * Makes the cluster a streaming standby of this one (a base backup taken with
   * `pg_basebackup -R`), read-only until promoted.
   */
  standbyOf?: PrivatePostgres | undefined;
}

/** Copies the server's certificate and key into the cluster's directory: PostgreSQL wants its key owner-only, owned by its user. */
function serverTlsSettings(dir: string, tls: NonNullable<PrivatePostgresOptions['tls']>, owner: { uid: number; gid: number } | undefined): string[] {
  const cert = path.join(dir, 'server.crt');
  const key = path.join(dir, 'server.key');
  fs.copyFileSync(tls.certFile, cert);
  fs.copyFileSync(tls.keyFile, key);
  fs.chmodSync(key, 0o600);
  if (owner) for (const file of [cert, key]) fs.chownSync(file, owner.uid, owner.gid);
  return ['-c', 'ssl=on', '-c', `ssl_cert_file=${cert}`, '-c', `ssl_key_file=${key}`];
}

/**
 * A PostgreSQL cluster of its own for one test, in a temporary directory on a free port, so that
 * a test can crash and restart the database without touching the shared server. fsync stays on:
 * what it proves is what a production database does after a crash.
 */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const bin = postgresBinDir();
  const owner = runAs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x3dh-pg-'));
  const dataDir = path.join(dir, 'data');
  if (owner) fs.chownSync(dir, owner.uid, owner.gid);
  const tlsSettings = options.tls ? serverTlsSettings(dir, options.tls, owner) : [];
  if (options.standbyOf) {
    execFileSync(path.join(bin, 'pg_basebackup'), ['-D', dataDir, '-h', '127.0.0.1', '-p', String(options.standbyOf.port),
      '-U', 'postgres', '-R', '-X', 'stream', '-c', 'fast'], { stdio: 'pipe', ...(owner ?? {}) });
  } else {
    // initdb's pg_hba.conf trusts replication connections from loopback too.
    execFileSync(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-instructions'], {
      stdio: 'pipe', ...(owner ?? {}),
    });
  }
  const settings = Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
  const port = options.port ?? await freePort();
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  let child: ChildProcess;
  let output = '';

  const start = async () => {
    output = '';
    // Its own process group, so that a crash takes the backends down with the postmaster.
    child = spawn(path.join(bin, 'postgres'), ['-D', dataDir, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', ...tlsSettings, ...settings], {
      stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...(owner ?? {}),
    });
    child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    await waitUntilReady(url, child, () => output);
  };
  const stop = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(-child.pid!, signal);
    } catch {
      return;
    }
    await exited;
    // The backends of the group die with it; wait until none holds the data directory's shared memory.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      try {
        process.kill(-child.pid!, 0);
      } catch {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  await start();
  return {
    url,
    port,
    promote: async () => {
      execFileSync(path.join(bin, 'pg_ctl'), ['promote', '-D', dataDir, '-w', '-t', '60'], { stdio: 'pipe', ...(owner ?? {}) });
    },
    crash: () => stop('SIGKILL'),
    restart: start,
    destroy: async () => {
      await stop('SIGQUIT');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
