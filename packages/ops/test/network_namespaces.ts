import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { stopChild } from '@x3dh-iot/testkit';

/**
 * Network namespaces for tests, built so that test traffic can only ever flow between them: every
 * process that sends runs in a namespace this module created (checked before each start, and
 * `ip netns exec` refuses a missing one), no namespace gets a default route, and the host's own
 * namespace is never configured or used to send.
 */

export function run(command: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${stderr || error.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

export class NamespaceLab {
  /** Short and random: interface names (15 characters at most) and wireguard-go's host-wide sockets are unique per run. */
  readonly id = randomBytes(2).toString('hex');
  private readonly namespaces: string[] = [];
  private readonly processes: ChildProcess[] = [];

  name(role: string): string {
    return `x3e${this.id}-${role}`;
  }

  ifname(role: string): string {
    return `x3${this.id}${role}`.slice(0, 15);
  }

  async create(role: string): Promise<string> {
    const ns = this.name(role);
    await run('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    await this.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Fails unless `ns` is one of ours and still exists: nothing may fall back to the host's namespace. */
  assertOurs(ns: string): void {
    if (!this.namespaces.includes(ns)) throw new Error(`refusing to use namespace ${ns}: not created by this test`);
    if (!existsSync(`/run/netns/${ns}`)) throw new Error(`namespace ${ns} is gone`);
  }

  exec(ns: string, command: string, args: string[], input?: string): Promise<string> {
    this.assertOurs(ns);
    return run('ip', ['netns', 'exec', ns, command, ...args], input);
  }

  /** A long-running process inside `ns`; stopped by `destroy`. */
  spawn(ns: string, command: string, args: string[], env: Record<string, string> = {}): ChildProcess {
    this.assertOurs(ns);
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.processes.push(child);
    return child;
  }

  /** A veth pair between two of our namespaces, each end with an address. */
  async link(a: { ns: string; ifname: string; address: string }, b: { ns: string; ifname: string; address: string }): Promise<void> {
    this.assertOurs(a.ns);
    this.assertOurs(b.ns);
    await run('ip', ['link', 'add', a.ifname, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns]);
    for (const end of [a, b]) {
      await this.exec(end.ns, 'ip', ['address', 'add', end.address, 'dev', end.ifname]);
      await this.exec(end.ns, 'ip', ['link', 'set', end.ifname, 'up']);
    }
  }

  /** The namespace's routing table has no default route, so a missing route fails instead of leaking. */
  async assertNoDefaultRoute(ns: string): Promise<void> {
    const routes = (await this.exec(ns, 'ip', ['-4', 'route', 'show', 'default'])) + (await this.exec(ns, 'ip', ['-6', 'route', 'show', 'default']));
    if (routes.trim() !== '') throw new Error(`namespace ${ns} has a default route: ${routes}`);
  }

  /** Whether a TCP connection from inside `ns` to host:port opens within the timeout. */
  async tcpOpens(ns: string, host: string, port: number, timeoutMs = 3000): Promise<boolean> {
    const probe = `const s=require('node:net').connect({host:${JSON.stringify(host)},port:${port},timeout:${timeoutMs}});` +
      `s.on('connect',()=>{s.destroy();process.exit(0)});s.on('timeout',()=>process.exit(1));s.on('error',()=>process.exit(1));`;
    try {
      await this.exec(ns, process.execPath, ['-e', probe]);
      return true;
    } catch {
      return false;
    }
  }

  async destroy(): Promise<void> {
    await Promise.all(this.processes.map((child) => stopChild(child)));
    for (const ns of this.namespaces.reverse()) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}
