import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';

/** A connection closed sooner than this after it was made may have been taken over by another process. */
const TAKEN_OVER_WITHIN_MS = 3000;

/**
 * The key server's MQTT session. It outlives a lost connection by --session-expiry, so the broker
 * queues the requests of the cut and delivers them after the reconnect; only the reconnections
 * resume it. The first connection of a process starts clean: the session of a process that died
 * with this client id would otherwise keep its share of the requests (Mosquitto gives a
 * disconnected member of a share group its turn) until it expired, and nobody would answer them.
 *
 * The default client id is the same at every start on a host, so that a restart ends its
 * predecessor's session. A second live process on the host with the default takes the session
 * back within a reconnection period, again after each reconnection. When the first two
 * connections of this process end that soon (a cut of the network ends only one), it goes on
 * under an id of its own, instead of the two taking the session from each other forever.
 */
export function keepServerSession(client: MqttClient, options: { defaultClientId: boolean }, log: Logger): void {
  // Called once the first connection (Clean Start) is up.
  client.options.clean = false;
  if (!options.defaultClientId) return;
  let connectedAt: number | null = Date.now();
  let shortConnections = 0;
  const onConnect = () => {
    connectedAt = Date.now();
  };
  const onClose = () => {
    if (connectedAt === null || client.disconnecting) return; // a connection attempt that failed, or the end
    const lasted = Date.now() - connectedAt;
    connectedAt = null;
    shortConnections += 1;
    if (lasted < TAKEN_OVER_WITHIN_MS && shortConnections < 2) return;
    client.off('connect', onConnect);
    client.off('close', onClose);
    if (lasted >= TAKEN_OVER_WITHIN_MS) return;
    const taken = client.options.clientId;
    client.options.clientId = `${taken}-${randomBytes(4).toString('hex')}`;
    log.warn({ taken, clientId: client.options.clientId }, 'another process holds this client id: going on under ' +
      'a new one; give each replica on a host its own --client-id');
  };
  client.on('connect', onConnect);
  client.on('close', onClose);
}
