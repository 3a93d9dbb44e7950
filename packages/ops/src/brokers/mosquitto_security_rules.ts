import { deviceGrants, serverGrants, v1DeviceGrants, type TopicGrant } from './topic_rules.js';

/**
 * Mosquitto's topic rules as a configuration of its dynamic security plugin, which ships with
 * Mosquitto 2.0. Mosquitto 2.0's own `acl_file` never checks subscriptions (its check returns
 * success for every SUBSCRIBE), so a device could join the key server's shared subscription
 * (`$share/x3dh-server/x3dh/v2/req/#`): Mosquitto then handed it every second request and dropped
 * them at delivery. The plugin checks subscriptions, and answers a refused one with SUBACK 0x87.
 *
 * Rules belong to an identity (the certificate's CN), not to a listener: an identity missing from
 * this file gets nothing, not even a subscription, on any listener. The broker administrator's
 * identity alone may use the plugin's `$CONTROL` API, which is how rules change on a running broker
 * (mosquitto_rule_sync); Mosquitto reads this file only at start.
 */

export type AclType = 'publishClientSend' | 'publishClientReceive' | 'subscribePattern';

export interface Acl {
  acltype: AclType;
  topic: string;
  allow: boolean;
  priority: number;
}

export interface Role {
  rolename: string;
  acls: Acl[];
}

export interface RuleClient {
  username: string;
  roles: { rolename: string }[];
}

export interface RuleGroup {
  groupname: string;
  roles: { rolename: string }[];
}

/** The plugin's configuration: what the file holds, and what a running broker is brought to. */
export interface MosquittoRuleSet {
  defaultACLAccess: Record<'publishClientSend' | 'publishClientReceive' | 'subscribe' | 'unsubscribe', boolean>;
  clients: RuleClient[];
  roles: Role[];
  groups: RuleGroup[];
  anonymousGroup?: string;
}

export interface SecurityRuleOptions {
  devices: string[];
  serverIdentity: string;
  /** The certificate CN that may change the rules of a running broker (x3dh-ops broker mosquitto-apply). */
  adminIdentity: string;
  /** Anonymous clients (v1 firmware on the v1 listener) get the v1 topics. */
  v1: boolean;
}

/** Refused first, whatever else a role allows: no client but the key server joins a shared subscription. */
const NO_SHARED_SUBSCRIPTIONS: Acl = { acltype: 'subscribePattern', topic: '$share/#', allow: false, priority: 100 };

function allow(acltype: AclType, topic: string): Acl {
  return { acltype, topic, allow: true, priority: 0 };
}

/** A read grant lets a client subscribe within the filter and receive what matches it. */
function grantAcls(grants: TopicGrant[], sharedReads: boolean): Acl[] {
  return grants.flatMap((grant) => {
    if (grant.access === 'write') return [allow('publishClientSend', grant.filter)];
    return [
      allow('subscribePattern', grant.filter),
      ...(sharedReads ? [allow('subscribePattern', `$share/+/${grant.filter}`)] : []),
      allow('publishClientReceive', grant.filter),
    ];
  });
}

const deviceRole = (device: string, v1: boolean): Role => ({
  rolename: `device-${device}`,
  acls: [NO_SHARED_SUBSCRIPTIONS, ...grantAcls(deviceGrants(device, { v1 }), false)],
});

export const V1_FIRMWARE_GROUP = 'v1-firmware';

/** The plugin's API: requests on the first topic, answers on the second. */
export const DYNSEC_TOPIC = '$CONTROL/dynamic-security/v1';
export const DYNSEC_RESPONSE_TOPIC = `${DYNSEC_TOPIC}/response`;

const adminRole: Role = {
  rolename: 'broker-admin',
  acls: [
    allow('publishClientSend', DYNSEC_TOPIC),
    allow('subscribePattern', DYNSEC_RESPONSE_TOPIC),
    allow('publishClientReceive', DYNSEC_RESPONSE_TOPIC),
  ],
};

export function mosquittoRuleSet(options: SecurityRuleOptions): MosquittoRuleSet {
  const serverRole: Role = { rolename: 'key-server', acls: grantAcls(serverGrants(), true) };
  const roles = [adminRole, serverRole, ...options.devices.map((device) => deviceRole(device, options.v1))];
  const clients: RuleClient[] = [
    { username: options.adminIdentity, roles: [{ rolename: adminRole.rolename }] },
    { username: options.serverIdentity, roles: [{ rolename: serverRole.rolename }] },
    ...options.devices.map((device) => ({ username: device, roles: [{ rolename: `device-${device}` }] })),
  ];
  // Anything not granted is refused; unsubscribing never is (it can only lose the client messages).
  const defaultACLAccess = { publishClientSend: false, publishClientReceive: false, subscribe: false, unsubscribe: true };
  if (!options.v1) return { defaultACLAccess, clients, roles, groups: [] };
  return {
    defaultACLAccess,
    clients,
    roles: [...roles, { rolename: V1_FIRMWARE_GROUP, acls: [NO_SHARED_SUBSCRIPTIONS, ...grantAcls(v1DeviceGrants(), false)] }],
    groups: [{ groupname: V1_FIRMWARE_GROUP, roles: [{ rolename: V1_FIRMWARE_GROUP }] }],
    anonymousGroup: V1_FIRMWARE_GROUP,
  };
}

export function mosquittoSecurityRules(options: SecurityRuleOptions): string {
  return `${JSON.stringify(mosquittoRuleSet(options), null, 2)}\n`;
}
