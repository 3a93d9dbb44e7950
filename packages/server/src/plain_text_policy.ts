import net from 'node:net';

/**
 * Plain-text connections stay on the machine unless the operator says otherwise: the key server's
 * traffic with its broker and its database carries enrolment tokens, mailbox contents, database
 * passwords and the server's broker login, readable and changeable by anyone on the path.
 */
export class PlainTextRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlainTextRefusedError';
  }
}

/** Loopback addresses and names, and Unix socket paths (PostgreSQL's `host=/run/postgresql`). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === 'localhost' || bare.startsWith('/')) return true;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  if (net.isIPv6(bare)) return bare === '::1' || /^::ffff:127\./i.test(bare);
  return false;
}

/** Schemes of plain-text broker URLs, and their TLS counterparts. */
const PLAIN_SCHEMES: Record<string, string> = { 'mqtt:': 'mqtts:', 'tcp:': 'mqtts:', 'ws:': 'wss:', 'amqp:': 'amqps:' };

/**
 * Refuses a plain-text broker URL (mqtt://, ws://, amqp://) to a host beyond loopback unless
 * `allowed` (--allow-insecure-broker).
 */
export function checkBrokerUrl(url: string, allowed: boolean, flag: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PlainTextRefusedError(`${flag}: not a URL: ${url}`);
  }
  const secure = PLAIN_SCHEMES[parsed.protocol];
  if (secure === undefined || allowed || isLoopbackHost(parsed.hostname)) return;
  throw new PlainTextRefusedError(`${flag} ${parsed.protocol}//${parsed.host} is plain text to a host beyond loopback: ` +
    `use ${secure}// (TLS 1.3, the broker's certificate checked against --broker-ca/--amqp-ca), ` +
    'or give --allow-insecure-broker if the network path is protected otherwise');
}
