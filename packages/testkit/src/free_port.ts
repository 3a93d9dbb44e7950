import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** A TCP port that was free a moment ago on `host` (the OS picks it; nothing else listens on it now). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
