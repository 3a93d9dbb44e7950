/** MQTT topics of wire protocol v2 (docs/protocol-v2.md section 2). */
export const V2_TOPIC_PREFIX = 'x3dh/v2';

/** Device names: the certificate's common name, a topic level and the directory name at once. */
export const DEVICE_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export const V2_OPERATIONS = [
  'enroll', 'identity.rotate', 'prekeys.upload', 'prekeys.status', 'bundle.fetch', 'directory.list',
  'directory.lookup', 'message.send', 'mailbox.fetch', 'mailbox.ack', 'device.delete',
] as const;
export type V2Operation = (typeof V2_OPERATIONS)[number];

export const requestTopic = (device: string, operation: V2Operation): string => `${V2_TOPIC_PREFIX}/req/${device}/${operation}`;
export const responseTopic = (device: string): string => `${V2_TOPIC_PREFIX}/resp/${device}`;
export const pushTopic = (device: string): string => `${V2_TOPIC_PREFIX}/push/${device}`;
/** What the servers subscribe to (as a shared subscription). */
export const REQUEST_FILTER = `${V2_TOPIC_PREFIX}/req/#`;

export function isDeviceName(name: string): boolean {
  return DEVICE_NAME_PATTERN.test(name);
}

/**
 * A deployment id names one key server deployment (its operator key): signed into every request and
 * every identity certificate, so neither is taken for another deployment's. Same characters as a
 * device name.
 */
export const DEPLOYMENT_ID_PATTERN = DEVICE_NAME_PATTERN;

export function isDeploymentId(id: string): boolean {
  return DEPLOYMENT_ID_PATTERN.test(id);
}

/** Splits a request topic into device and operation; null for anything else. */
export function parseRequestTopic(topic: string): { device: string; operation: V2Operation } | null {
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== V2_TOPIC_PREFIX || parts[2] !== 'req') return null;
  const device = parts[3]!;
  const operation = parts[4]! as V2Operation;
  if (!isDeviceName(device) || !V2_OPERATIONS.includes(operation)) return null;
  return { device, operation };
}
