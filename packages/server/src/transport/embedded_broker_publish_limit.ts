import type { AedesOptions, Client } from 'aedes';
import { RateLimiter, type RateLimit } from '../processing/rate_limiter.js';

type AuthorizePublish = NonNullable<AedesOptions['authorizePublish']>;

/** MQTT 5 DISCONNECT reason: message rate too high. */
const MESSAGE_RATE_TOO_HIGH = 0x96;

/**
 * The embedded broker's publish rate limit per client (its client id, which names the device),
 * checked before the topic rules: a flooding client's excess is dropped in the broker (MQTT 5:
 * PUBACK 0x87 with the reason) and never reaches the key server, which shares the process. A
 * client that goes on publishing through a burst's worth of refusals is disconnected (0x96), so
 * that a flood costs the process a reconnection now and then instead of every packet. Meant to be
 * looser than the server's per-device request limit, so that a device keeping to its requests'
 * `retry_after_ms` never meets it. The key server's own client is not limited.
 */
export function limitPublishRate(authorize: AuthorizePublish, limit: RateLimit, serverClientId: string): AuthorizePublish {
  const limiter = new RateLimiter(limit);
  const refusedInARow = new WeakMap<Client, number>();
  return (client, packet, done) => {
    if (client && client.id !== serverClientId) {
      const waitMs = limiter.take(client.id);
      if (waitMs !== null) {
        const refused = (refusedInARow.get(client) ?? 0) + 1;
        refusedInARow.set(client, refused);
        if (refused === limit.burst) client.disconnect({ reasonCode: MESSAGE_RATE_TOO_HIGH });
        return done(new Error(`publish rate exceeded; try again in ${waitMs} ms`));
      }
      refusedInARow.delete(client);
    }
    authorize(client, packet, done);
  };
}
