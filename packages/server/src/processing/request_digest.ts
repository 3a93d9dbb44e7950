import { createHash } from 'node:crypto';

/**
 * Identifies one request across redeliveries: SHA-256 over topic, Response Topic, Correlation Data
 * and payload, each length-prefixed so that no two different requests encode alike. The Response
 * Topic names the requester where nothing else does (v1 is unauthenticated): two requesters sending
 * the same request with equal Correlation Data must each get their own reply, not one recorded
 * reply (the same one-time prekey) for both. Null without Correlation Data: such requests cannot be
 * told apart from a deliberate repeat, so they are not deduplicated.
 */
export function requestDigest(
  topic: string, responseTopic: string | undefined, correlationData: Buffer | undefined, payload: Buffer,
): string | null {
  if (correlationData === undefined) return null;
  const hash = createHash('sha256');
  // MQTT has no empty Response Topic: '' stands for none (the request gets no reply).
  for (const part of [Buffer.from(topic, 'utf8'), Buffer.from(responseTopic ?? '', 'utf8'), correlationData, payload]) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(part.length);
    hash.update(length).update(part);
  }
  return hash.digest('base64url');
}
