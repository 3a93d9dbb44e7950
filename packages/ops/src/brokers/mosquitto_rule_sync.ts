import type { Acl, MosquittoRuleSet, Role, RuleClient, RuleGroup } from './mosquitto_security_rules.js';

/** One command of the dynamic security plugin's API (`$CONTROL/dynamic-security/v1`). */
export type DynsecCommand = { command: string } & Record<string, unknown>;

const aclKey = (acl: Acl): string => JSON.stringify([acl.acltype, acl.topic, acl.priority, acl.allow]);
const names = (list: { rolename: string }[]): Set<string> => new Set(list.map((item) => item.rolename));

function byName<T>(items: T[], name: (item: T) => string): Map<string, T> {
  return new Map(items.map((item) => [name(item), item]));
}

function roleChanges(current: Role | undefined, wanted: Role): DynsecCommand[] {
  if (current === undefined) return [{ command: 'createRole', rolename: wanted.rolename, acls: wanted.acls }];
  const have = new Set(current.acls.map(aclKey));
  const want = new Set(wanted.acls.map(aclKey));
  return [
    ...current.acls.filter((acl) => !want.has(aclKey(acl)))
      .map((acl) => ({ command: 'removeRoleACL', rolename: wanted.rolename, acltype: acl.acltype, topic: acl.topic })),
    ...wanted.acls.filter((acl) => !have.has(aclKey(acl))).map((acl) => ({ command: 'addRoleACL', rolename: wanted.rolename, ...acl })),
  ];
}

/** Adds and removes the roles of a client or a group, one command per difference. */
function membershipChanges(
  subject: { field: 'username' | 'groupname'; name: string; add: string; remove: string },
  current: { rolename: string }[],
  wanted: { rolename: string }[],
): DynsecCommand[] {
  const have = names(current);
  const want = names(wanted);
  return [
    ...[...have].filter((role) => !want.has(role)).map((rolename) => ({ command: subject.remove, [subject.field]: subject.name, rolename })),
    ...[...want].filter((role) => !have.has(role)).map((rolename) => ({ command: subject.add, [subject.field]: subject.name, rolename })),
  ];
}

function clientChanges(current: RuleClient | undefined, wanted: RuleClient): DynsecCommand[] {
  if (current === undefined) return [{ command: 'createClient', username: wanted.username, roles: wanted.roles }];
  return membershipChanges({ field: 'username', name: wanted.username, add: 'addClientRole', remove: 'removeClientRole' }, current.roles, wanted.roles);
}

function groupChanges(current: RuleGroup | undefined, wanted: RuleGroup): DynsecCommand[] {
  if (current === undefined) return [{ command: 'createGroup', groupname: wanted.groupname, roles: wanted.roles }];
  return membershipChanges({ field: 'groupname', name: wanted.groupname, add: 'addGroupRole', remove: 'removeGroupRole' }, current.roles, wanted.roles);
}

/**
 * The commands that bring a running broker's rules (`current`, as the plugin lists them) to the
 * generated ones (`wanted`): roles and groups first, so that every client created or changed finds
 * its roles; deletions last, clients before the roles they hold. Nothing outside the generated rules
 * survives: the bundle describes the whole rule set. An empty list means the broker already agrees.
 */
export function planRuleSync(current: MosquittoRuleSet, wanted: MosquittoRuleSet): DynsecCommand[] {
  const roles = byName(current.roles, (role) => role.rolename);
  const groups = byName(current.groups, (group) => group.groupname);
  const clients = byName(current.clients, (client) => client.username);
  const wantedRoles = new Set(wanted.roles.map((role) => role.rolename));
  const wantedGroups = new Set(wanted.groups.map((group) => group.groupname));
  const wantedClients = new Set(wanted.clients.map((client) => client.username));

  const defaults = Object.entries(wanted.defaultACLAccess)
    .filter(([acltype, allow]) => current.defaultACLAccess[acltype as keyof MosquittoRuleSet['defaultACLAccess']] !== allow)
    .map(([acltype, allow]) => ({ acltype, allow }));
  const anonymousChange = (wanted.anonymousGroup ?? '') !== (current.anonymousGroup ?? '') && wanted.anonymousGroup !== undefined;

  return [
    ...wanted.roles.flatMap((role) => roleChanges(roles.get(role.rolename), role)),
    ...wanted.groups.flatMap((group) => groupChanges(groups.get(group.groupname), group)),
    ...(anonymousChange ? [{ command: 'setAnonymousGroup', groupname: wanted.anonymousGroup }] : []),
    ...wanted.clients.flatMap((client) => clientChanges(clients.get(client.username), client)),
    ...(defaults.length > 0 ? [{ command: 'setDefaultACLAccess', acls: defaults }] : []),
    ...current.clients.filter((client) => !wantedClients.has(client.username)).map((client) => ({ command: 'deleteClient', username: client.username })),
    ...current.groups.filter((group) => !wantedGroups.has(group.groupname)).map((group) => ({ command: 'deleteGroup', groupname: group.groupname })),
    ...current.roles.filter((role) => !wantedRoles.has(role.rolename)).map((role) => ({ command: 'deleteRole', rolename: role.rolename })),
  ];
}
