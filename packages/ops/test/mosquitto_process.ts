import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readdir } from 'node:fs/promises';
import net from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { stopChild } from '@x3dh-iot/testkit';

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const hasMosquitto = existsSync(MOSQUITTO);

/**
 * Mosquitto started as root switches to the `mosquitto` user before it reads certificates and ACLs,
 * so the bundle (and every directory above it) must be reachable by that user, and its persistence
 * directory writable.
 */
export async function handBundleToMosquitto(bundleDir: string, parents: string[], persistenceDir: string): Promise<void> {
  await mkdir(persistenceDir, { recursive: true });
  if (userInfo().uid !== 0) return;
  const uid = Number(execFileSync('id', ['-u', 'mosquitto']).toString());
  const gid = Number(execFileSync('id', ['-g', 'mosquitto']).toString());
  for (const dir of parents) await chmod(dir, 0o755);
  for (const name of await readdir(bundleDir)) await chown(join(bundleDir, name), uid, gid);
  await chown(persistenceDir, uid, gid);
}

async function waitForPort(port: number, process: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (process.exitCode !== null) throw new Error(`mosquitto exited ${process.exitCode}:\n${output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`mosquitto did not listen on ${port}:\n${output()}`);
}

export interface RunningMosquitto {
  stop(): Promise<void>;
  output(): string;
}

/**
 * Starts a private Mosquitto from a generated configuration file (the test kit's broker writes its
 * own configuration) and waits for every listed port.
 */
export async function startMosquitto(config: string, ports: number[]): Promise<RunningMosquitto> {
  const child = spawn(MOSQUITTO, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (chunk) => (log += chunk));
  child.stderr.on('data', (chunk) => (log += chunk));
  const running: RunningMosquitto = {
    output: () => log,
    stop: () => stopChild(child),
  };
  try {
    for (const port of ports) await waitForPort(port, child, () => log);
  } catch (error) {
    await running.stop();
    throw error;
  }
  return running;
}
