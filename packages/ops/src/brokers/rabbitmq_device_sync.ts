import { execFile } from 'node:child_process';
import { z } from 'zod';
import type { Progress } from '../files/output_file.js';
import { DEVICE_USER_TAG, rabbitMqDefinitionsJson, rabbitMqDeviceDefinitions } from './rabbitmq_config.js';

/**
 * Brings a running RabbitMQ cluster's device users in line with the devices that hold a certificate,
 * through `rabbitmqctl` and without restarting anything: new devices' users, permissions and topic
 * permissions are imported (an import adds and updates, it never deletes), and users tagged as
 * devices that no longer hold a certificate (revoked) are deleted, which also closes their
 * connections. Users without the device tag (the key server, the v1 user) are never touched.
 *
 * `rabbitmqctl` is the command and its first arguments, e.g.
 * `kubectl -n x3dh exec -i rabbitmq-0 -c rabbitmq -- rabbitmqctl`: any node of the cluster will do.
 */
export async function syncRabbitMqDevices(rabbitmqctl: string[], options: { vhost: string; devices: string[]; v1: boolean }, progress: Progress): Promise<{ added: string[]; deleted: string[] }> {
  const before = await listDeviceUsers(rabbitmqctl);
  await importDefinitions(rabbitmqctl, rabbitMqDefinitionsJson(rabbitMqDeviceDefinitions(options)));
  const wanted = new Set(options.devices);
  const added = options.devices.filter((device) => !before.includes(device));
  for (const device of added) progress(`added broker user ${device}`);
  const deleted = before.filter((user) => !wanted.has(user));
  for (const user of deleted) {
    await deleteUser(rabbitmqctl, user);
    progress(`deleted broker user ${user}`);
  }
  return { added, deleted };
}

function run(rabbitmqctl: string[], args: string[], input?: string): Promise<string> {
  const [command, ...first] = rabbitmqctl;
  if (!command) throw new Error('no rabbitmqctl command given');
  return new Promise((resolve, reject) => {
    const child = execFile(command, [...first, ...args], { timeout: 120_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${[...rabbitmqctl, ...args].join(' ')} failed: ${(stderr || stdout || error.message).trim()}`));
      else resolve(stdout);
    });
    child.stdin!.end(input ?? '');
  });
}

/** Users, resource permissions and topic permissions from a definitions document on standard input. */
async function importDefinitions(rabbitmqctl: string[], definitions: string): Promise<void> {
  await run(rabbitmqctl, ['--quiet', 'import_definitions', '--format', 'json'], definitions);
}

const userListSchema = z.array(z.object({ user: z.string(), tags: z.union([z.array(z.string()), z.string()]) }));

/** The users that carry the device tag. */
async function listDeviceUsers(rabbitmqctl: string[]): Promise<string[]> {
  const output = await run(rabbitmqctl, ['--quiet', 'list_users', '--formatter', 'json']);
  const users = userListSchema.parse(JSON.parse(output));
  // Older nodes print the tags as one string ("[x3dh-device]"), newer ones as a list.
  const tags = (entry: z.infer<typeof userListSchema>[number]) => (Array.isArray(entry.tags) ? entry.tags : entry.tags.replace(/[[\]]/g, '').split(/[,\s]+/));
  return users.filter((entry) => tags(entry).includes(DEVICE_USER_TAG)).map((entry) => entry.user);
}

async function deleteUser(rabbitmqctl: string[], user: string): Promise<void> {
  await run(rabbitmqctl, ['--quiet', 'delete_user', user]);
}
