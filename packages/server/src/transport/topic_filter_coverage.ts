/**
 * True when every topic that `filter` matches also matches `grant`: an MQTT topic filter (`+` one
 * level, `#` the rest) granting access covers a subscription filter, or a topic name (a filter
 * without wildcards). A `+` or `#` in the subscription is covered only by a wildcard in the grant,
 * so `x3dh/v2/resp/+` is not covered by `x3dh/v2/resp/alice`.
 */
export function filterCovers(grant: string, filter: string): boolean {
  const granted = grant.split('/');
  const wanted = filter.split('/');
  for (let level = 0; level < granted.length; level += 1) {
    const g = granted[level]!;
    // `a/#` also matches `a` itself (MQTT 5, section 4.7.1.2).
    if (g === '#') return true;
    const w = wanted[level];
    if (w === undefined || w === '#') return false;
    if (g !== '+' && g !== w) return false;
  }
  return granted.length === wanted.length;
}
