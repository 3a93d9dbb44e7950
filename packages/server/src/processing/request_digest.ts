import { createHash } from 'node:crypto';

/**
 * Identifies one request across redeliveries: SHA-256 over topic, Correlation Data and payload,
 * each length-prefixed so that no two different requests encode alike. Null without Correlation
 * Data: such requests cannot be told apart from a deliberate repeat, so they are not deduplicated.
 */
export function requestDigest(topic: string, correlationData: Buffer | undefined, payload: Buffer): string | null {
  if (correlationData === undefined) return null;
  const hash = createHash('sha256');
  for (const part of [Buffer.from(topic, 'utf8'), correlationData, payload]) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(part.length);
    hash.update(length).update(part);
  }
  return hash.digest('base64url');
}
