import { createHash } from 'node:crypto';
import { z } from 'zod';
import { encodeBase64url, wireV2 } from '@x3dh-iot/protocol';
import { removeDevice, rotateIdentity } from '../domain/device_lifecycle.js';
import type { Sql } from '../storage/database.js';
import {
  findEnrolmentToken, insertEnrolmentToken, listEnrolmentTokens, revokeEnrolmentToken, type EnrolmentTokenRow,
} from '../storage/queries/enrolment_token_queries.js';
import { insertAuditEntry, listAuditEntries, type AuditRow } from '../storage/queries/audit_log_queries.js';
import { insertConsoleLoginToken } from '../storage/queries/console_session_queries.js';
import { findFleetDevice, pageFleetDevices, type FleetDeviceRow } from '../storage/queries/fleet_queries.js';
import { findDeployment, type DeploymentRow } from '../storage/queries/deployment_queries.js';
import { listDevices, type DeviceRow } from '../storage/queries/operator_device_queries.js';
import { findDevice, setDeviceDisabled, type DeviceRow as V2DeviceRow } from '../storage/queries/v2_device_queries.js';
import { OperatorError } from './operator_error.js';
import { formatTime } from './output.js';

/**
 * What the operator commands do to the store, one transaction each, with JSON inputs and results:
 * so the command can run it on a store it opens itself, or hand it to the running key server that
 * holds the embedded store (operator_socket.ts), and print the same either way.
 */

/** A token as the operator sees it: everything but the token and its digest. */
export function describeToken(row: EnrolmentTokenRow) {
  return {
    id: row.id, device: row.device, note: row.note, state: row.state,
    created: formatTime(row.created_at), expires: formatTime(row.expires_at),
    used: formatTime(row.used_at), used_by: row.used_by, revoked: formatTime(row.revoked_at),
  };
}

/**
 * active; deleted by the device (its key may restore it); disabled by the operator; or deleted by
 * the operator (disabled, its data gone): the last two come back only with a new enrolment token.
 */
const deviceState = (deleted: boolean, disabled: boolean) =>
  (disabled ? (deleted ? 'operator-deleted' : 'disabled') : deleted ? 'deleted' : 'active');

export function describeDevice(row: DeviceRow) {
  return {
    device: row.username, identity_key: encodeBase64url(row.identity_key), state: deviceState(row.deleted_at !== null, row.disabled_at !== null),
    created: formatTime(row.created_at), deleted: formatTime(row.deleted_at), disabled: formatTime(row.disabled_at),
    signed_prekey_id: row.signed_prekey_id,
    one_time_prekeys: row.one_time_prekeys, mailbox_messages: row.mailbox_messages,
  };
}

/** Most devices `device list` shows at once; a larger directory is listed a page at a time (`--after`). */
export const MAX_DEVICE_PAGE = 1000;
/** A device as the console's overview and detail pages show it: its state, its stock and what needs attention. */
export function describeFleetDevice(row: FleetDeviceRow, alertLimits: AlertLimits) {
  const signedPreKeyAgeDays = row.signed_prekey_uploaded_at === null ? null
    : Math.floor((Date.now() - row.signed_prekey_uploaded_at.getTime()) / 86_400_000);
  const state = deviceState(row.deleted_at !== null, row.disabled_at !== null);
  const alerts: string[] = [];
  if (state === 'active' && row.wire_protocol === 2) {
    if (row.one_time_prekeys < alertLimits.lowOneTimePreKeys) alerts.push('low one-time prekey stock');
    if (row.signed_prekey_id === null) alerts.push('no signed prekey');
    else if (signedPreKeyAgeDays !== null && signedPreKeyAgeDays >= alertLimits.signedPreKeyMaxAgeDays) alerts.push('old signed prekey');
  }
  return {
    device: row.username, protocol: `v${row.wire_protocol}`, state, enrolled: formatTime(row.created_at),
    last_seen: formatTime(row.last_seen_at), signed_prekey_id: row.signed_prekey_id, signed_prekey_age_days: signedPreKeyAgeDays,
    one_time_prekeys: row.one_time_prekeys, mailbox_messages: row.mailbox_messages, alerts,
  };
}

/** Thresholds of the console's alerts. */
export interface AlertLimits {
  lowOneTimePreKeys: number;
  signedPreKeyMaxAgeDays: number;
}

export function describeAuditEntry(row: AuditRow) {
  return { id: row.id, at: formatTime(row.at), actor: row.actor, action: row.action, target: row.target, detail: row.detail };
}

/** The identity key's SHA-256, in groups of four hex digits, for comparing with what the device shows. */
export function identityFingerprint(key: Uint8Array): string {
  return createHash('sha256').update(key).digest('hex').match(/.{4}/g)!.join(' ');
}

/** Most devices or audit entries on one console page. */
const MAX_PAGE = 200;

/**
 * The deployment id and operator public key a device is provisioned with, as the last key server
 * started on the store recorded them (null before any did), printed next to a new enrolment token.
 */
function describeDeployment(row: DeploymentRow | null) {
  return { deployment_id: row?.deployment_id ?? null, operator_public_key: row ? encodeBase64url(row.operator_public_key) : null };
}

/** Enrolment token ids, as `token list` shows them. */
export const TOKEN_ID_PATTERN = /^[1-9][0-9]{0,17}$/;

const inputs = {
  'token.issue': z.strictObject({
    digest: wireV2.exactly('token digest', 32),
    device: wireV2.deviceNameSchema.nullable(),
    note: z.string().max(1000).nullable(),
    expiresInSeconds: z.number().int().positive().nullable(),
  }),
  'token.list': z.strictObject({}),
  'token.revoke': z.strictObject({ id: z.string().regex(TOKEN_ID_PATTERN) }),
  'device.list': z.strictObject({
    after: z.string().nullable().default(null),
    limit: z.number().int().min(1).max(MAX_DEVICE_PAGE).default(MAX_DEVICE_PAGE),
  }),
  'device.set-identity': z.strictObject({ device: z.string(), identityKey: wireV2.publishedKeySchema }),
  'device.disable': z.strictObject({ device: z.string() }),
  'device.enable': z.strictObject({ device: z.string() }),
  'device.delete': z.strictObject({ device: z.string() }),
  'device.page': z.strictObject({
    after: z.string().max(64).nullable(), search: z.string().max(64), limit: z.number().int().min(1).max(MAX_PAGE),
    alerts: z.strictObject({ lowOneTimePreKeys: z.number().int().min(0), signedPreKeyMaxAgeDays: z.number().int().min(1) }),
  }),
  'device.show': z.strictObject({
    device: z.string(),
    alerts: z.strictObject({ lowOneTimePreKeys: z.number().int().min(0), signedPreKeyMaxAgeDays: z.number().int().min(1) }),
  }),
  'audit.list': z.strictObject({ before: z.string().regex(TOKEN_ID_PATTERN).nullable(), limit: z.number().int().min(1).max(MAX_PAGE) }),
  'console.token': z.strictObject({
    digest: wireV2.exactly('token digest', 32), operator: z.string().min(1).max(200), expiresInSeconds: z.number().int().positive(),
  }),
};

/** Operations that change something: each is written to the audit log with who asked for it. */
const AUDITED: ReadonlySet<OperatorOperation> = new Set<OperatorOperation>([
  'token.issue', 'token.revoke', 'device.set-identity', 'device.disable', 'device.enable', 'device.delete', 'console.token',
]);

export type OperatorOperation = keyof typeof inputs;
export type OperatorInput<O extends OperatorOperation> = z.input<(typeof inputs)[O]>;

const operations = {
  'token.issue': async (sql, input) => ({ ...describeToken(await insertEnrolmentToken(sql, input)), ...describeDeployment(await findDeployment(sql)) }),
  'token.list': async (sql) => (await listEnrolmentTokens(sql)).map(describeToken),
  'token.revoke': async (sql, { id }) => {
    const revoked = await revokeEnrolmentToken(sql, id);
    if (revoked) return describeToken(revoked);
    const existing = await findEnrolmentToken(sql, id);
    if (!existing) throw new OperatorError(`no enrolment token ${id}`);
    throw new OperatorError(`enrolment token ${id} is already ${existing.state === 'used'
      ? `used (by ${existing.used_by ?? '?'} at ${formatTime(existing.used_at)})` : existing.state}`);
  },
  'device.list': async (sql, { after, limit }) => (await listDevices(sql, after, limit)).map(describeDevice),
  'device.set-identity': async (sql, { device: name, identityKey }) => {
    const device = await existingDevice(sql, name);
    // The same change as a device's own identity.rotate; the row lock its UPDATE takes waits for
    // a prekey upload in flight, whose keys are then deleted too.
    await rotateIdentity(sql, device.id, identityKey);
    return { device: name, identity_key: encodeBase64url(identityKey) };
  },
  'device.disable': async (sql, { device: name }) => {
    const device = await existingDevice(sql, name);
    await setDeviceDisabled(sql, name, true);
    return { device: name, state: deviceState(device.deleted, true), was: deviceState(device.deleted, device.disabled) };
  },
  'device.enable': async (sql, { device: name }) => {
    const device = await existingDevice(sql, name);
    if (!device.disabled) throw new OperatorError(`${name} is not disabled (${deviceState(device.deleted, false)})`);
    if (device.deleted) {
      throw new OperatorError(`${name} was deleted: it comes back only by enrolling with a new enrolment token ` +
        `(x3dh-server token issue --device ${name})`);
    }
    await setDeviceDisabled(sql, name, false);
    return { device: name, state: deviceState(false, false), was: deviceState(false, true) };
  },
  'device.delete': async (sql, { device: name }) => {
    const device = await existingDevice(sql, name);
    await removeDevice(sql, device.id, name);
    return { device: name, state: deviceState(true, true), was: deviceState(device.deleted, device.disabled) };
  },
  'device.page': async (sql, { after, search, limit, alerts }) => {
    // One row more than shown says whether a next page exists.
    const rows = await pageFleetDevices(sql, { after, prefix: search, limit: limit + 1 });
    const shown = rows.slice(0, limit);
    return { devices: shown.map((row) => describeFleetDevice(row, alerts)), next: rows.length > limit ? shown.at(-1)!.username : null };
  },
  'device.show': async (sql, { device: name, alerts }) => {
    const row = await findFleetDevice(sql, name);
    if (row === null) throw new OperatorError(`no device named ${name}`);
    const history = await listAuditEntries(sql, { before: null, target: name, limit: 50 });
    return {
      ...describeFleetDevice(row, alerts), identity_key: encodeBase64url(row.identity_key),
      identity_fingerprint: identityFingerprint(row.identity_key), history: history.map(describeAuditEntry),
      certificate_epoch: row.identity_certificate === null ? null : row.identity_epoch,
    };
  },
  'audit.list': async (sql, { before, limit }) => {
    const rows = await listAuditEntries(sql, { before, target: null, limit });
    return { entries: rows.map(describeAuditEntry), next: rows.length === limit ? rows.at(-1)!.id : null };
  },
  'console.token': async (sql, input) => {
    const row = await insertConsoleLoginToken(sql, input);
    return { id: row.id, operator: input.operator, expires: formatTime(row.expires_at) };
  },
} satisfies { [O in OperatorOperation]: (sql: Sql, input: z.output<(typeof inputs)[O]>) => Promise<unknown> };

async function existingDevice(sql: Sql, name: string): Promise<V2DeviceRow> {
  const device = await findDevice(sql, name);
  if (device === null) throw new OperatorError(`no device named ${name}`);
  return device;
}

/** What an operation returns: plain JSON, the same whether run here or by the key server holding the store. */
export type OperatorResult<O extends OperatorOperation> = Awaited<ReturnType<(typeof operations)[O]>>;

export const isOperatorOperation = (name: unknown): name is OperatorOperation =>
  typeof name === 'string' && Object.hasOwn(inputs, name);

/**
 * Runs one operation in the caller's transaction; bad input is an OperatorError naming the problem.
 * A change is written to the audit log in the same transaction, naming `actor` (who asked: the
 * command line's user or the console's operator), so it is recorded exactly when it happens.
 */
export async function runOperatorOperation<O extends OperatorOperation>(
  sql: Sql, operation: O, input: unknown, actor: string,
): Promise<OperatorResult<O>> {
  const parsed = inputs[operation].safeParse(input);
  if (!parsed.success) {
    throw new OperatorError(`${operation}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`).join('; ')}`);
  }
  const result = await (operations[operation] as (sql: Sql, input: unknown) => Promise<OperatorResult<O>>)(sql, parsed.data);
  if (AUDITED.has(operation)) await insertAuditEntry(sql, { actor, action: operation, ...auditSubject(operation, parsed.data, result) });
  return result;
}

/** What an audited operation acted on, and the rest of its input worth keeping (never a token digest). */
function auditSubject(operation: OperatorOperation, input: Record<string, unknown>, result: unknown): { target: string | null; detail: string | null } {
  const { device, id } = input;
  // The digest would let nobody enrol, but it names the token: it stays out of the log.
  const rest = Object.fromEntries(Object.entries(input).filter(([key]) => !['digest', 'device', 'id'].includes(key)));
  const issuedId = (result as { id?: unknown }).id;
  const target = typeof device === 'string' ? device : typeof id === 'string' ? `token ${id}`
    : operation === 'token.issue' ? `token ${String(issuedId)}` : operation === 'console.token' ? `console token ${String(issuedId)}` : null;
  const detail = Object.fromEntries(Object.entries({ ...rest, ...(device === null ? { device: 'any' } : {}) })
    .filter(([, value]) => value !== null && value !== undefined));
  return { target, detail: Object.keys(detail).length === 0 ? null : JSON.stringify(detail) };
}
