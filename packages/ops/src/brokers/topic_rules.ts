/**
 * Who may publish and subscribe to what, for every broker: the topics of docs/protocol-v2.md.
 *
 *   x3dh/v2/req/<device>/<operation>   device -> server   (only <device> may publish)
 *   x3dh/v2/resp/<device>              server -> device   (only <device> may read)
 *   x3dh/v2/push/<device>              server -> device   (deliveries and notices)
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

/** v1 request topics, as the original firmware uses them. */
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
    { access: 'write', filter: `${V2_ROOT}/req/${device}/#` },
    { access: 'read', filter: `${V2_ROOT}/resp/${device}` },
    { access: 'read', filter: `${V2_ROOT}/push/${device}` },
    ...(options.v1 ? v1DeviceGrants() : []),
  ];
}

/**
 * The key server reads every device's requests and answers or pushes to every device. Its v1 grants
 * do not depend on the v1 switch: no device may publish v1 requests while v1 is off, so they open
 * nothing, and the server binds its request queue to the v1 topics whatever the switch (RabbitMQ
 * checks topic permissions on queue bindings and would refuse the server's start otherwise).
 */
export function serverGrants(): TopicGrant[] {
  return [
    { access: 'read', filter: `${V2_ROOT}/req/#` },
    { access: 'write', filter: `${V2_ROOT}/resp/#` },
    { access: 'write', filter: `${V2_ROOT}/push/#` },
    ...V1_REQUEST_FILTERS.map((filter) => ({ access: 'read' as const, filter })),
    { access: 'write', filter: V1_RESPONSE_FILTER },
  ];
}
