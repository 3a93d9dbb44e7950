import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@x3dh-iot/testkit';
import { cli } from '../../../ops/test/operator_cli.js';
import { handBundleToMosquitto, startMosquitto, type RunningMosquitto } from '../../../ops/test/mosquitto_process.js';

export interface MosquittoDeployment {
  /** The operator's directory: `pki/ca.crt`, `pki/server-client.*`, `pki/devices/<name>.*`. */
  dir: string;
  ca: string;
  deviceFiles(name: string): { certFile: string; keyFile: string };
  serverFiles: { certFile: string; keyFile: string };
  /** mqtts:// for Node devices, the key server's own listener, and wss:// for browsers. */
  deviceUrl: string;
  serverUrl: string;
  webSocketUrl: string;
  webSocketOrigin: string;
  stop(): Promise<void>;
}

/**
 * Mosquitto as an operator sets it up with x3dh-ops: a PKI, one certificate per device, and the
 * generated bundle (TLS 1.3, client certificates, per-device rules) with its WebSocket listener.
 */
export async function startMosquittoDeployment(devices: string[]): Promise<MosquittoDeployment> {
  const dir = await mkdtemp(join(tmpdir(), 'x3dh-web-device-mosq-'));
  let mosquitto: RunningMosquitto | undefined;
  try {
    await cli('pki', 'init', '-d', dir);
    await cli('pki', 'broker', '-d', dir, '--dns', 'localhost', '--ip', '127.0.0.1');
    await cli('pki', 'server-client', '-d', dir);
    await cli('pki', 'device', ...devices, '-d', dir);
    const [port, serverPort, wsPort] = [await freePort(), await freePort(), await freePort()];
    const bundle = join(dir, 'brokers', 'mosquitto');
    await cli('broker', 'mosquitto', '-d', dir, '--install-dir', bundle, '--persistence-dir', join(dir, 'data'), '--bind', '127.0.0.1',
      '--port', String(port), '--server-port', String(serverPort), '--ws-port', String(wsPort));
    await handBundleToMosquitto(bundle, [dir, join(dir, 'brokers'), bundle], join(dir, 'data'));
    mosquitto = await startMosquitto(join(bundle, 'mosquitto.conf'), [port, serverPort, wsPort]);
    const running = mosquitto;
    const files = (base: string) => ({ certFile: `${base}.crt`, keyFile: `${base}.key` });
    return {
      dir,
      ca: join(dir, 'pki', 'ca.crt'),
      deviceFiles: (name) => files(join(dir, 'pki', 'devices', name)),
      serverFiles: files(join(dir, 'pki', 'server-client')),
      deviceUrl: `mqtts://127.0.0.1:${port}`,
      serverUrl: `mqtts://127.0.0.1:${serverPort}`,
      webSocketUrl: `wss://localhost:${wsPort}/mqtt`,
      webSocketOrigin: `https://localhost:${wsPort}`,
      stop: async () => {
        await running.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await mosquitto?.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
