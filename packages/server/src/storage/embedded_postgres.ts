import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { binariesForUser } from './binaries_for_user.js';
import { OWNER_ONLY_DIR_MODE, OWNER_ONLY_FILE_MODE } from './owner_only.js';
import { postgresBinaries, type PostgresBinaries } from './postgres_binaries.js';

/** Unix socket paths longer than this do not fit in sockaddr_un (108 bytes with the final NUL on Linux). */
const MAX_SOCKET_PATH = 103;
const SOCKET_NAME = '.s.PGSQL.5432';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;

/**
 * Settings given on the command line at every start, so that an upgrade of the server changes them
 * for existing clusters too. fsync, synchronous_commit and full_page_writes keep PostgreSQL's
 * defaults (on): a commit returns only once its WAL is on stable storage. The rest sizes the
 * cluster for a small machine: no TCP listener (a private Unix socket only), small shared buffers,
 * I/O done by the backends themselves instead of three I/O worker processes.
 */
function serverSettings(socketDir: string, maxConnections: number): string[] {
  const settings: Record<string, string> = {
    listen_addresses: '',
    unix_socket_directories: socketDir,
    unix_socket_permissions: '0700',
    max_connections: String(maxConnections),
    shared_buffers: '16MB',
    io_method: 'sync',
    huge_pages: 'off',
    log_checkpoints: 'off',
  };
  return Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
}

export class EmbeddedPostgresError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EmbeddedPostgresError';
  }
}

/** Who the cluster runs as: PostgreSQL refuses to run as root, so a root server hands it to the `postgres` user. */
interface RunAs {
  uid: number;
  gid: number;
}

function runAs(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch (error) {
    throw new EmbeddedPostgresError('the key server runs as root, and PostgreSQL does not: create a system user `postgres` ' +
      '(useradd --system postgres) for the embedded store, run the server as another user, or give it --database-url', { cause: error });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The last lines of the cluster's log, for an error message. */
function logTail(logFile: string): string {
  try {
    return fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-8).join('\n');
  } catch {
    return '';
  }
}

/**
 * A PostgreSQL cluster of the key server's own, in `<dataDir>/postgres`, started and stopped by the
 * server: initdb on first start, reachable only through a Unix socket in its directory (owner-only),
 * its messages in `<dataDir>/postgres.log`. The caller holds the data directory's lock, so a
 * postmaster still running on the cluster belongs to a server that was killed: it is stopped first.
 */
export class EmbeddedPostgres {
  private stopping = false;

  private constructor(
    private readonly child: ChildProcess,
    /** Directory of the cluster's Unix socket, as the server reaches it. */
    readonly socketDir: string,
    private readonly exited: Promise<void>,
  ) {}

  /** A connection URL for `pg` over the cluster's socket. */
  get url(): string {
    return `postgresql://postgres@/postgres?host=${encodeURIComponent(this.socketDir)}`;
  }

  static async start(dataDir: string, options: { maxConnections: number }, log: Logger): Promise<EmbeddedPostgres> {
    const clusterDir = path.resolve(dataDir, 'postgres');
    const socketPath = path.join(clusterDir, SOCKET_NAME);
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
      throw new EmbeddedPostgresError(`the embedded store's socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} bytes: choose a shorter --data-dir`);
    }
    const owner = runAs();
    const binaries = owner ? binariesForUser(await postgresBinaries(), owner) : await postgresBinaries();
    const logFile = path.resolve(dataDir, 'postgres.log');
    if (!fs.existsSync(path.join(clusterDir, 'PG_VERSION'))) await initialise(binaries, clusterDir, owner, log);
    await stopOrphan(clusterDir, log);

    const logFd = fs.openSync(logFile, 'a', OWNER_ONLY_FILE_MODE);
    let child: ChildProcess;
    try {
      child = spawn(binaries.postgres, [
        '-D', dataDirArgument(clusterDir, owner), ...serverSettings(socketDirArgument(clusterDir, owner), options.maxConnections),
      ], {
        ...runIn(clusterDir, owner),
        stdio: ['ignore', logFd, logFd],
        // Its own process group: a Ctrl-C in the terminal reaches the server, which stops the cluster after its last commit.
        detached: true,
      });
    } finally {
      fs.closeSync(logFd);
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('error', () => {});
    const cluster = new EmbeddedPostgres(child, clusterDir, exited);
    child.once('exit', (code, signal) => {
      if (!cluster.stopping) log.error({ code, signal, log: logFile }, 'embedded PostgreSQL stopped unexpectedly');
    });
    try {
      await waitUntilReady(clusterDir, child, logFile);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    log.info({ pid: child.pid, dir: clusterDir, log: logFile }, 'embedded PostgreSQL started');
    return cluster;
  }

  /** Fast shutdown: open transactions roll back, a checkpoint, then the postmaster exits. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.child.exitCode !== null || this.child.signalCode !== null || this.child.pid === undefined) return;
    this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGQUIT'), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * When the server runs as root, the cluster runs as `postgres`, which may not search the
 * directories above the data directory (mkdtemp and home directories are 0700). The programs are
 * then started inside the cluster directory (entered before the user switch) and given it as
 * /proc/self/cwd, which leads there without a path walk through those directories.
 */
function dataDirArgument(clusterDir: string, owner: RunAs | undefined): string {
  return owner ? '/proc/self/cwd' : clusterDir;
}

const socketDirArgument = dataDirArgument;

function runIn(dir: string, owner: RunAs | undefined): { cwd: string; uid?: number; gid?: number } {
  return { cwd: dir, ...(owner ?? {}) };
}

/** initdb into a directory of its own, renamed into place once complete: a start killed meanwhile leaves no half cluster. */
async function initialise(binaries: PostgresBinaries, clusterDir: string, owner: RunAs | undefined, log: Logger): Promise<void> {
  const started = performance.now();
  const building = `${clusterDir}.init`;
  fs.rmSync(building, { recursive: true, force: true });
  fs.mkdirSync(building, { mode: OWNER_ONLY_DIR_MODE });
  if (owner) fs.chownSync(building, owner.uid, owner.gid);
  const output = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
    const child = spawn(binaries.initdb, [
      '-D', dataDirArgument(building, owner), '--username=postgres', '--auth-local=trust', '--auth-host=reject',
      '--encoding=UTF8', '--locale=C', '--no-instructions',
    ], { ...runIn(building, owner), stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    child.stderr!.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, text }));
  });
  if (output.code !== 0) {
    throw new EmbeddedPostgresError(`initdb failed (exit ${output.code}): ${output.text.trim().split('\n').slice(-5).join('\n')}`);
  }
  fs.renameSync(building, clusterDir);
  log.info({ dir: clusterDir, ms: Math.round(performance.now() - started) }, 'embedded PostgreSQL cluster created');
}

/** The pid of the postmaster recorded in the cluster's lock file, if any. */
function recordedPostmaster(clusterDir: string): { pid: number; status: string } | undefined {
  let lines: string[];
  try {
    lines = fs.readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  // Line 8 is the postmaster's status (starting, ready, stopping), as pg_ctl reads it.
  return Number.isInteger(pid) && pid > 0 ? { pid, status: (lines[7] ?? '').trim() } : undefined;
}

function isPostgres(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres');
  } catch {
    // No procfs (macOS): the recorded pid is taken for the postmaster, as pg_ctl does.
    return fs.existsSync('/proc') ? false : isAlive(pid);
  }
}

/**
 * A postmaster left running by a server that was killed (kill -9, a crash): the data directory lock
 * is ours now, so nothing uses it. Stopped as at a normal stop; a recorded pid that is now another
 * program is stale, and PostgreSQL would refuse to start while that program lives.
 */
async function stopOrphan(clusterDir: string, log: Logger): Promise<void> {
  const recorded = recordedPostmaster(clusterDir);
  if (recorded === undefined || !isAlive(recorded.pid)) return;
  if (!isPostgres(recorded.pid)) {
    fs.rmSync(path.join(clusterDir, 'postmaster.pid'), { force: true });
    return;
  }
  log.warn({ pid: recorded.pid }, 'stopping the embedded PostgreSQL left running by a server that did not stop');
  process.kill(recorded.pid, 'SIGINT');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isAlive(recorded.pid)) {
    if (Date.now() > deadline) process.kill(recorded.pid, 'SIGQUIT');
    await sleep(20);
  }
}

async function waitUntilReady(clusterDir: string, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  if (child.pid === undefined) throw new EmbeddedPostgresError(`embedded PostgreSQL could not be started: ${logTail(logFile)}`);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new EmbeddedPostgresError(`embedded PostgreSQL exited at start (${child.exitCode ?? child.signalCode}): ${logTail(logFile)}`);
    }
    const recorded = recordedPostmaster(clusterDir);
    if (recorded !== undefined && recorded.pid === child.pid && recorded.status === 'ready') return;
    if (Date.now() > deadline) throw new EmbeddedPostgresError(`embedded PostgreSQL not ready in ${START_TIMEOUT_MS / 1000} s: ${logTail(logFile)}`);
    await sleep(10);
  }
}
