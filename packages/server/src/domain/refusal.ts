import type { wireV2 } from '@x3dh-iot/protocol';

/** A domain rule said no: the v2 error code and a readable message. Nothing was written. */
export interface Refusal {
  ok: false;
  code: wireV2.ErrorCode;
  message: string;
  retryAfterMs?: number;
}

export type Result<T> = { ok: true; value: T } | Refusal;

export const refuse = (code: wireV2.ErrorCode, message: string, retryAfterMs?: number): Refusal =>
  ({ ok: false, code, message, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });

export const accept = <T>(value: T): Result<T> => ({ ok: true, value });

/**
 * An operation that records its request's id itself (check 5 of docs/protocol-v2.md section 3.2,
 * in the operation's first statement) found the id used before: it did nothing.
 */
export const REQUEST_ID_USED = { ok: 'request_id_used' } as const;
export type RequestIdUsed = typeof REQUEST_ID_USED;
export const isRequestIdUsed = (value: unknown): value is RequestIdUsed => value === REQUEST_ID_USED;
