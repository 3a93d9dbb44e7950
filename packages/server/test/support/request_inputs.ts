import { randomBytes } from 'node:crypto';
import { encodeBase64url as b64, generateKeyPair, wireV1, wireV2, type KeyPair } from '@x3dh-iot/protocol';
import { preKeyBatch } from '@x3dh-iot/testkit';
import fc from 'fast-check';
import { chatMessage, initialMessage, registerBundle, registerIdentity } from './v1_fixtures.js';

/**
 * Mutated requests of every v1 and v2 request schema, for property tests and the fuzz script: a
 * valid body of each operation, then a field (at any depth) replaced by a hostile value, removed,
 * or an unknown one added, or the whole payload replaced by other JSON or by bytes. Any of them
 * must be answered with a defined error or a success, never a server failure.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Values that break code trusting its input's type or range: numbers at and past each integer limit, their decimal strings, text a database refuses. */
export const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    '9999999999999999999', '9223372036854775807', '9223372036854775808', '18446744073709551616', '-9223372036854775809',
    '0', '-1', '1e3', '01', ' 1', '', '\u0000', 'a\u0000b', '\ud800', '\\', '%', '/', '#', '+', 'x3dh/v2/req/#',
    2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 1e308, -1, -(2 ** 31) - 1, 0.5, -0, 1e-7,
    null, true, false, [], {}, [null], { '': null },
  ),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.bigInt({ min: 0n, max: 2n ** 70n }).map(Number),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.base64String({ maxLength: 120 }).map((s) => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

/** Every path into a JSON value (keys of objects, indexes of arrays), the value itself as []. */
function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const found = [prefix];
  if (Array.isArray(value)) value.forEach((item, i) => found.push(...paths(item, [...prefix, i])));
  else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) found.push(...paths(item, [...prefix, key]));
  }
  return found;
}

/**
 * A copy of `value` with what `path` points at replaced (undefined: removed); a path ending in a new
 * key adds it (a key that is no index turns an array into an object with its items).
 */
function replaced(value: Json, path: readonly (string | number)[], by: Json | undefined): Json | undefined {
  if (path.length === 0) return by;
  const [head, ...rest] = path;
  if (Array.isArray(value) && typeof head === 'number') {
    const copy = [...value];
    const item = replaced(copy[head as number] ?? null, rest, by);
    if (item === undefined) copy.splice(head as number, 1);
    else copy[head as number] = item;
    return copy;
  }
  const copy: { [key: string]: Json } = { ...(value as { [key: string]: Json }) };
  const item = replaced(copy[head as string] ?? null, rest, by);
  if (item === undefined) delete copy[head as string];
  else copy[head as string] = item;
  return copy;
}

/** Mutations of a valid body, as the payload to send (JSON text, or raw bytes now and then). */
export function mutatedPayload(valid: Json): fc.Arbitrary<Buffer> {
  const all = paths(valid);
  const where = fc.constantFrom(...all);
  const members = all.filter((path) => path.length > 0);
  const json = fc.oneof(
    { weight: 1, arbitrary: fc.constant(valid) },
    { weight: 6, arbitrary: fc.tuple(where, hostileValue).map(([path, by]) => replaced(valid, path, by) ?? null) },
    { weight: 1, arbitrary: members.length === 0 ? fc.constant(valid)
      : fc.constantFrom(...members).map((path) => replaced(valid, path, undefined) ?? null) },
    { weight: 1, arbitrary: fc.tuple(where, fc.string({ maxLength: 12 }), hostileValue)
      .map(([path, key, by]) => replaced(valid, [...path, key], by) ?? null) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json> },
  ).map((body) => Buffer.from(JSON.stringify(body), 'utf8'));
  const bytes = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b));
  return fc.oneof({ weight: 9, arbitrary: json }, { weight: 1, arbitrary: bytes });
}

/** The other devices a v2 request may name: one enrolled with a bundle, and a name nobody holds. */
export interface V2Peers {
  target: string;
  stranger: string;
}

/** A valid body of each v2 operation, for a device with `identity` (the proof of a rotation signed by a fresh key). */
export function validV2Bodies(identity: KeyPair, device: string, peers: V2Peers): Record<wireV2.V2Operation, Json> {
  const fresh = generateKeyPair();
  const rotationProof = wireV2.signRotationProof(fresh.privateKey, device, identity.publicKey);
  const upload = preKeyBatch({ name: device, identity }, { signedPreKeyId: 1000, firstOneTimePreKeyId: 1000, count: 2 }).body;
  return {
    'enroll': { identity_key: b64(identity.publicKey) },
    'identity.rotate': { new_identity_key: b64(fresh.publicKey), proof: b64(rotationProof) },
    'prekeys.upload': upload as Json,
    'prekeys.status': {},
    'bundle.fetch': { device: peers.target },
    'directory.list': {},
    'directory.lookup': { device: peers.stranger },
    'message.send': { to: peers.target, id: b64(randomBytes(16)), type: 'session', envelope: b64(randomBytes(40)) },
    'mailbox.fetch': { after: '1', limit: 10 },
    'mailbox.ack': { ids: ['1', '2'] },
    'device.delete': {},
  };
}

/** A v1 request: its topic (the username in it mutated too for per-user topics) and a valid payload. */
export interface V1Case {
  operation: wireV1.V1Operation;
  topic: fc.Arbitrary<string>;
  valid: Json;
}

const T = wireV1.V1_TOPICS;
const topicName = (known: string) => fc.oneof(fc.constant(known), fc.string({ minLength: 1, maxLength: 70 })
  .filter((name) => !/[/+#]/.test(name) && !name.includes(String.fromCharCode(0))));

/** Every v1 operation, naming `user` (registered, with a bundle) and `peer`. */
export function v1Cases(user: string, peer: string): V1Case[] {
  const parse = (text: string) => JSON.parse(text) as Json;
  return [
    { operation: 'users', topic: fc.constant(T.users), valid: {} },
    { operation: 'registerIdentity', topic: fc.constant(T.registerIdentity), valid: parse(registerIdentity(`${user}-new`)) },
    { operation: 'registerBundle', topic: fc.constant(T.registerBundle), valid: parse(registerBundle(user)) },
    { operation: 'bundle', topic: topicName(user).map(wireV1.bundleTopic), valid: {} },
    { operation: 'initialMessage', topic: fc.constant(T.initialMessage), valid: parse(initialMessage(user, peer)) },
    { operation: 'inbox', topic: topicName(user).map(wireV1.inboxTopic), valid: {} },
    { operation: 'chatSend', topic: fc.constant(T.chatSend), valid: parse(chatMessage(peer, user, 'hi')) },
    { operation: 'chatFetch', topic: fc.constant(T.chatFetch), valid: { to: user, from: peer } },
  ];
}
