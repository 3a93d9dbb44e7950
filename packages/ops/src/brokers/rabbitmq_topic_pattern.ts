/**
 * RabbitMQ checks MQTT topics as AMQP routing keys (`/` and `.` swap places) against one regular expression
 * per user, exchange and direction. Reads are checked when subscribing, against the filter itself
 * (`x3dh.v2.req.alice.#`), so a pattern must accept both concrete keys and the filter's wildcards.
 */
function escapeLevel(level: string): string {
  if (/[*#+]/.test(level)) throw new Error(`topic level ${JSON.stringify(level)} cannot be expressed as a routing key`);
  return level.replace(/\./g, '/').replace(/[\\^$|?()[\]{}]/g, (char) => `\\${char}`);
}

/** The body (without anchors) of a regular expression matching what an MQTT filter covers. */
export function filterToRoutingKeyPattern(filter: string): string {
  const levels = filter.split('/');
  const multiLevel = levels.at(-1) === '#';
  const fixed = multiLevel ? levels.slice(0, -1) : levels;
  if (fixed.includes('#')) throw new Error(`"#" must be the last level: ${filter}`);
  const body = fixed.map((level) => (level === '+' ? '[^.]+' : escapeLevel(level))).join('\\.');
  return multiLevel ? `${body}(\\..+)?` : body;
}

/** One anchored pattern that accepts any of the filters (RabbitMQ allows one per direction). */
export function routingKeyPattern(filters: string[]): string {
  if (filters.length === 0) return '^$';
  return `^(${filters.map(filterToRoutingKeyPattern).join('|')})$`;
}
