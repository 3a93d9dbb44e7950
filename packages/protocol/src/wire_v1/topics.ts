/** MQTT topics of wire protocol v1, as the original firmware uses them. */
export const V1_TOPICS = {
  users: 'x3dh/req/users',
  registerIdentity: 'x3dh/register/ik',
  registerBundle: 'x3dh/register/bundle',
  /** Followed by `/<username>`. */
  bundlePrefix: 'x3dh/req/bundle',
  initialMessage: 'x3dh/msg/init',
  /** Followed by `/<username>`. */
  inboxPrefix: 'x3dh/req/inbox',
  chatSend: 'x3dh/msg/chat',
  chatFetch: 'x3dh/req/chat',
  /** The single response topic every v1 device uses. */
  response: 'x3dh/resp/me',
  responseFilter: 'x3dh/resp/#',
} as const;

export type V1Operation =
  | 'users' | 'registerIdentity' | 'registerBundle' | 'bundle'
  | 'initialMessage' | 'inbox' | 'chatSend' | 'chatFetch';

export const bundleTopic = (username: string): string => `${V1_TOPICS.bundlePrefix}/${username}`;
export const inboxTopic = (username: string): string => `${V1_TOPICS.inboxPrefix}/${username}`;

/** Maps a request topic to its operation and, for per-user topics, the username in it. */
export function parseV1Topic(topic: string): { operation: V1Operation; username?: string } | null {
  switch (topic) {
    case V1_TOPICS.users: return { operation: 'users' };
    case V1_TOPICS.registerIdentity: return { operation: 'registerIdentity' };
    case V1_TOPICS.registerBundle: return { operation: 'registerBundle' };
    case V1_TOPICS.initialMessage: return { operation: 'initialMessage' };
    case V1_TOPICS.chatSend: return { operation: 'chatSend' };
    case V1_TOPICS.chatFetch: return { operation: 'chatFetch' };
  }
  for (const [prefix, operation] of [[V1_TOPICS.bundlePrefix, 'bundle'], [V1_TOPICS.inboxPrefix, 'inbox']] as const) {
    if (topic.startsWith(`${prefix}/`)) return { operation, username: topic.slice(prefix.length + 1) };
  }
  return null;
}
