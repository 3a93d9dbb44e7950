/** Socket errors of a peer that is not (yet) listening, or not (yet) resolvable or routable. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH',
  // A Kubernetes Service or StatefulSet pod name resolves only once it exists.
  'EAI_AGAIN', 'ENOTFOUND',
]);

/** MQTT 5 CONNACK reasons "server unavailable" and "server busy". */
const BROKER_BUSY_REASONS = new Set([136, 137]);

/** Driver messages without a code that mean a connection dropped or timed out, not that it was refused. */
const DROPPED = /connection terminated|timeout|timed out|no CONNACK|closed abruptly|socket hang up|socket closed/i;

function transient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'number') return BROKER_BUSY_REASONS.has(code);
  if (typeof code === 'string') {
    // SQLSTATE 57P (shutting down, starting up), 08 (connection failure), 53300 (too many connections),
    // 25006 (read-only: only a standby answers, the primary is being replaced).
    return NETWORK_CODES.has(code) || code.startsWith('57P') || code.startsWith('08') || code === '53300' || code === '25006';
  }
  return error instanceof Error && DROPPED.test(error.message);
}

/**
 * True when a connection failed because the database or broker is not up yet (refused, reset, timed
 * out, starting up, unavailable): waiting may help. False for what waiting cannot mend: a refused
 * login, a certificate that does not verify, a bad URL or file, a permission refused by the broker.
 * The causes of wrapped errors are looked at too; several errors (one per host) are "not reachable
 * yet" when each is.
 */
export function isNotReachableYet(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 8) return false;
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.every((inner) => isNotReachableYet(inner, depth + 1));
  if ((error as { code?: unknown }).code !== undefined || error.cause === undefined) return transient(error);
  return isNotReachableYet(error.cause, depth + 1);
}
