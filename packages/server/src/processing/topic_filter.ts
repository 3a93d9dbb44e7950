/** True when an MQTT topic filter (with `+` and `#` wildcards) matches a topic name. */
export function topicMatches(filter: string, topic: string): boolean {
  const want = filter.split('/');
  const have = topic.split('/');
  for (let i = 0; i < want.length; i += 1) {
    if (want[i] === '#') return true;
    if (i >= have.length) return false;
    if (want[i] !== '+' && want[i] !== have[i]) return false;
  }
  return want.length === have.length;
}
