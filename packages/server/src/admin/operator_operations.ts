import { z } from 'zod';
import { encodeBase64url, wireV2 } from '@x3dh-iot/protocol';
import { removeDevice, rotateIdentity } from '../domain/device_lifecycle.js';
import type { Sql } from '../storage/database.js';
import {
  findEnrolmentToken, insertEnrolmentToken, listEnrolmentTokens, revokeEnrolmentToken, type EnrolmentTokenRow,
} from '../storage/queries/enrolment_token_queries.js';
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
  'device.list': z.strictObject({}),
  'device.set-identity': z.strictObject({ device: z.string(), identityKey: wireV2.publishedKeySchema }),
  'device.disable': z.strictObject({ device: z.string() }),
  'device.enable': z.strictObject({ device: z.string() }),
  'device.delete': z.strictObject({ device: z.string() }),
};

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
  'device.list': async (sql) => (await listDevices(sql)).map(describeDevice),
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

/** Runs one operation in the caller's transaction; bad input is an OperatorError naming the problem. */
export async function runOperatorOperation<O extends OperatorOperation>(sql: Sql, operation: O, input: unknown): Promise<OperatorResult<O>> {
  const parsed = inputs[operation].safeParse(input);
  if (!parsed.success) {
    throw new OperatorError(`${operation}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`).join('; ')}`);
  }
  return (operations[operation] as (sql: Sql, input: unknown) => Promise<OperatorResult<O>>)(sql, parsed.data);
}
