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
 * Brings up a wireguard-go interface inside a namespace from a wg-quick file, as wg-quick would:
 * keys and peers through `wg setconf` (from `wg-quick strip`), then address, MTU and one route per
 * allowed network. The kernel here has no WireGuard module, hence wireguard-go.
 */
export async function bringUpWireGuard(lab: NamespaceLab, ns: string, ifname: string, configFile: string): Promise<void> {
  const config = parseWgQuick(await readFile(configFile, 'utf8'));
  const daemon = lab.spawn(ns, 'wireguard-go', ['-f', ifname], { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (daemon.exitCode !== null) throw new Error(`wireguard-go ${ifname} exited ${daemon.exitCode}`);
    try {
      await lab.exec(ns, 'wg', ['show', ifname]);
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  // wg reads a file by name (a pipe from Node is a socket, which it cannot open as /dev/stdin).
  const stripped = join(await mkdtemp(join(tmpdir(), 'x3dh-wg-')), `${ifname}.conf`);
  await writeFile(stripped, await run('wg-quick', ['strip', configFile]), { mode: 0o600 });
  await lab.exec(ns, 'wg', ['setconf', ifname, stripped]);
  await lab.exec(ns, 'ip', ['address', 'add', config.address, 'dev', ifname]);
  await lab.exec(ns, 'ip', ['link', 'set', ifname, 'mtu', String(config.mtu), 'up']);
  for (const network of config.allowedIps) await lab.exec(ns, 'ip', ['route', 'replace', network, 'dev', ifname]);
}
