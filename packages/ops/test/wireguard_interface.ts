import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type NamespaceLab } from './network_namespaces.js';

/** The wg-quick fields a userspace interface needs besides what `wg setconf` takes. */
interface WgQuickInterface {
  address: string;
  mtu: number;
  allowedIps: string[];
}

function parseWgQuick(text: string): WgQuickInterface {
  const values = (key: string) => [...text.matchAll(new RegExp(`^${key}\\s*=\\s*(.+)$`, 'gm'))].map((match) => match[1]!.trim());
  const [address] = values('Address');
  const [mtu] = values('MTU');
  if (!address || !mtu) throw new Error('a wg-quick file with Address and MTU is expected');
  return { address, mtu: Number(mtu), allowedIps: values('AllowedIPs').flatMap((list) => list.split(/\s*,\s*/)) };
}

/**
 * Starts wireguard-go for `ifname` and waits until `wg` sees the interface: true once it does, false
 * (with the daemon's exit code and output added to `failures`) when the daemon exited first.
 */
async function startWireGuardDaemon(lab: NamespaceLab, ns: string, ifname: string, failures: string[]): Promise<boolean> {
  const daemon = lab.spawn(ns, 'wireguard-go', ['-f', ifname], { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' });
  let output = '';
  daemon.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  daemon.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const closed = new Promise((resolve) => daemon.once('close', resolve));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (daemon.exitCode !== null) {
      await closed; // all of its output read
      failures.push(`exited ${daemon.exitCode}${output.trim() ? `: ${output.trim()}` : ''}`);
      return false;
    }
    try {
      await lab.exec(ns, 'wg', ['show', ifname]);
      return true;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * Brings up a wireguard-go interface inside a namespace from a wg-quick file, as wg-quick would:
 * keys and peers through `wg setconf` (from `wg-quick strip`), then address, MTU and one route per
 * allowed network. The kernel here has no WireGuard module, hence wireguard-go.
 */
export async function bringUpWireGuard(lab: NamespaceLab, ns: string, ifname: string, configFile: string): Promise<void> {
  const config = parseWgQuick(await readFile(configFile, 'utf8'));
  // wireguard-go has been seen to exit at start once in many runs; a second start is tried before giving up.
  const failures: string[] = [];
  while (!await startWireGuardDaemon(lab, ns, ifname, failures)) {
    if (failures.length >= 2) throw new Error(`wireguard-go ${ifname} did not start: ${failures.join('; ')}`);
  }
  // wg reads a file by name (a pipe from Node is a socket, which it cannot open as /dev/stdin).
  const stripped = join(await mkdtemp(join(tmpdir(), 'x3dh-wg-')), `${ifname}.conf`);
  await writeFile(stripped, await run('wg-quick', ['strip', configFile]), { mode: 0o600 });
  await lab.exec(ns, 'wg', ['setconf', ifname, stripped]);
  await lab.exec(ns, 'ip', ['address', 'add', config.address, 'dev', ifname]);
  await lab.exec(ns, 'ip', ['link', 'set', ifname, 'mtu', String(config.mtu), 'up']);
  for (const network of config.allowedIps) await lab.exec(ns, 'ip', ['route', 'replace', network, 'dev', ifname]);
}
