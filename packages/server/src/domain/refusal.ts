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
