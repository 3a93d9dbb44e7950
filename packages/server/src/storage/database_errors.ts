/**
 * The database cannot be reached (connection refused or lost, server shutting down or starting):
 * the request did not take effect and may succeed if retried later.
 */
export class DatabaseUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseUnavailableError';
  }
}

/**
 * The store cannot write (disk full, quota, input/output error, read-only file system): not the
 * request's fault, and retryable once the operator makes room. Requests that write nothing new
 * may still succeed meanwhile.
 */
export class StorageFailureError extends DatabaseUnavailableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageFailureError';
  }
}

/** SQLSTATE 53100 (disk_full) and 58030 (io_error), or a file system error of the same kind. */
export function isStorageFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && ['53100', '58030', 'ENOSPC', 'EDQUOT', 'EIO', 'EROFS'].includes(code);
}

/**
 * True for errors of the connection rather than of a statement: no SQLSTATE (the driver's own
 * "connection terminated"), a socket error code (ECONNREFUSED...), or SQLSTATE class 08
 * (connection), 53 (resources) or 57P (server shutting down or starting).
 */
export function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return true;
  return code.startsWith('08') || code.startsWith('53') || code.startsWith('57P') || /^E[A-Z]+$/.test(code);
}

/** Serialization failure or deadlock: the transaction lost a race and can simply be run again. */
export function isTransactionConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01';
}
