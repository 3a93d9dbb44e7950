import type { AedesOptions } from 'aedes';
import { RateLimiter, type RateLimit } from '../processing/rate_limiter.js';

type AuthorizePublish = NonNullable<AedesOptions['authorizePublish']>;

/**
 * The embedded broker's publish rate limit per client (its client id, which names the device),
 * checked before the topic rules: a flooding client's excess is dropped in the broker (MQTT 5:
 * PUBACK 0x87 with the reason) and never reaches the key server, which shares the process. Meant
 * to be looser than the server's per-device request limit, so that a device keeping to its
 * requests' `retry_after_ms` never meets it. The key server's own client is not limited.
 */
export function limitPublishRate(authorize: AuthorizePublish, limit: RateLimit, serverClientId: string): AuthorizePublish {
  const limiter = new RateLimiter(limit);
  return (client, packet, done) => {
    if (client && client.id !== serverClientId) {
      const waitMs = limiter.take(client.id);
      if (waitMs !== null) return done(new Error(`publish rate exceeded; try again in ${waitMs} ms`));
    }
    authorize(client, packet, done);
  };
}
