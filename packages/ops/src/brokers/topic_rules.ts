/**
 * Who may publish and subscribe to what, for every broker. Secure-protocol topics are scoped by the
 * device name as the second level after the version, so one rule per direction covers a device:
 *
 *   x3dh/v2/<device>/req/<operation...>   device -> server   (only <device> may publish)
 *   x3dh/v2/<device>/resp/<...>           server -> device   (only <device> may read)
 *   x3dh/v2/<device>/push/<...>           server -> device   (deliveries, low-prekey notices)
 *
 * Wire protocol v1 has one shared response topic (`x3dh/resp/me`) that every v1 device reads, so its
 * rules exist only when the operator enables v1.
 *
 * Client ids: a device that could pick another device's client id could take over its session and
 * its queued deliveries, so brokers must bind the client id to the authenticated identity.
 */
export type TopicAccess = 'read' | 'write';

export interface TopicGrant {
  access: TopicAccess;
  /** An MQTT topic filter (`/` separated, `+` and `#` wildcards). */
  filter: string;
}

export const V2_ROOT = 'x3dh/v2';

export const deviceRequestTopic = (device: string, operation: string): string => `${V2_ROOT}/${device}/req/${operation}`;
export const deviceResponseTopic = (device: string, rest: string): string => `${V2_ROOT}/${device}/resp/${rest}`;
export const devicePushTopic = (device: string, rest: string): string => `${V2_ROOT}/${device}/push/${rest}`;

/** v1 request topics (requests) and the shared response topic, as the original firmware uses them. */
export const V1_REQUEST_FILTERS = ['x3dh/req/#', 'x3dh/register/#', 'x3dh/msg/#'] as const;
/**
 * v1 responses all go to `x3dh/resp/me`; the firmware subscribes to `x3dh/resp/#`, and RabbitMQ
 * checks the subscription filter itself, so the grant is the filter.
 */
export const V1_RESPONSE_FILTER = 'x3dh/resp/#';

export interface RuleOptions {
  /** Serve wire protocol v1 (old firmware) too. */
  v1: boolean;
}

export function v1DeviceGrants(): TopicGrant[] {
  return [
    ...V1_REQUEST_FILTERS.map((filter) => ({ access: 'write' as const, filter })),
    { access: 'read', filter: V1_RESPONSE_FILTER },
  ];
}

export function deviceGrants(device: string, options: RuleOptions): TopicGrant[] {
  return [
    { access: 'write', filter: `${V2_ROOT}/${device}/req/#` },
    { access: 'read', filter: `${V2_ROOT}/${device}/resp/#` },
    { access: 'read', filter: `${V2_ROOT}/${device}/push/#` },
    ...(options.v1 ? v1DeviceGrants() : []),
  ];
}

/** The key server reads every device's requests and answers or pushes to every device. */
export function serverGrants(options: RuleOptions): TopicGrant[] {
  return [
    { access: 'read', filter: `${V2_ROOT}/+/req/#` },
    { access: 'write', filter: `${V2_ROOT}/+/resp/#` },
    { access: 'write', filter: `${V2_ROOT}/+/push/#` },
    ...(options.v1
      ? [...V1_REQUEST_FILTERS.map((filter) => ({ access: 'read' as const, filter })), { access: 'write' as const, filter: V1_RESPONSE_FILTER }]
      : []),
  ];
}
