/**
 * Matches topic names, split into levels, against an MQTT topic filter (with `+` and `#`
 * wildcards), which is split once rather than once per topic.
 */
export function topicFilterMatcher(filter: string): (levels: readonly string[]) => boolean {
  const want = filter.split('/');
  return (have) => {
    for (let i = 0; i < want.length; i += 1) {
      if (want[i] === '#') return true;
      if (i >= have.length) return false;
      if (want[i] !== '+' && want[i] !== have[i]) return false;
    }
    return want.length === have.length;
  };
}
