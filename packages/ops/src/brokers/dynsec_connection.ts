import type { MqttClient } from 'mqtt';
import { connectMqtt, type MqttConnectionOptions } from '@x3dh-iot/transport';
import type { DynsecCommand } from './mosquitto_rule_sync.js';
import { DYNSEC_RESPONSE_TOPIC, DYNSEC_TOPIC, type MosquittoRuleSet, type Role, type RuleClient, type RuleGroup } from './mosquitto_security_rules.js';

interface DynsecResponse {
  command: string;
  error?: string;
  data?: Record<string, unknown>;
  correlationData?: string;
}

export class DynsecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DynsecError';
  }
}

/** The broker answers one batch within this time or the command fails. */
const ANSWER_TIMEOUT_MS = 10_000;
/** Commands per request: keeps each message far below the broker's size limit. */
const BATCH_SIZE = 200;

/**
 * A client of Mosquitto's dynamic security API, logged in as the broker administrator. Commands go
 * in batches; each carries its index as correlation data, so every answer is matched to its command.
 */
export class DynsecConnection {
  private batch = 0;

  private constructor(private readonly client: MqttClient) {}

  static async open(options: MqttConnectionOptions): Promise<DynsecConnection> {
    const client = await connectMqtt({ ...options, reconnectPeriodMs: 0 });
    try {
      const [grant] = await client.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 1 });
      if (grant === undefined || grant.qos > 2) {
        throw new DynsecError(`the broker refused ${DYNSEC_RESPONSE_TOPIC}: is this certificate the broker administrator's (pki broker-admin)?`);
      }
    } catch (error) {
      await client.endAsync(true);
      if (error instanceof DynsecError) throw error;
      throw new DynsecError(`the broker refused ${DYNSEC_RESPONSE_TOPIC} (${(error as Error).message}): is this certificate the broker administrator's (pki broker-admin)?`);
    }
    return new DynsecConnection(client);
  }

  /** Runs commands in order and returns their answers; the first refused command fails the call. */
  async run(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    const answers: DynsecResponse[] = [];
    for (let start = 0; start < commands.length; start += BATCH_SIZE) {
      answers.push(...await this.runBatch(commands.slice(start, start + BATCH_SIZE)));
    }
    return answers;
  }

  private async runBatch(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    const batch = `${++this.batch}`;
    const tagged = commands.map((command, index) => ({ ...command, correlationData: `${batch}.${index}` }));
    const answered = new Promise<DynsecResponse[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.client.off('message', onMessage);
        reject(new DynsecError(`the broker did not answer within ${ANSWER_TIMEOUT_MS} ms`));
      }, ANSWER_TIMEOUT_MS);
      const onMessage = (topic: string, payload: Buffer) => {
        if (topic !== DYNSEC_RESPONSE_TOPIC) return;
        const responses = (JSON.parse(payload.toString()) as { responses?: DynsecResponse[] }).responses ?? [];
        if (responses[0]?.correlationData?.startsWith(`${batch}.`) !== true) return;
        clearTimeout(timer);
        this.client.off('message', onMessage);
        resolve(responses);
      };
      this.client.on('message', onMessage);
    });
    await this.client.publishAsync(DYNSEC_TOPIC, JSON.stringify({ commands: tagged }), { qos: 1 });
    const responses = await answered;
    for (const [index, command] of tagged.entries()) {
      const response = responses.find((candidate) => candidate.correlationData === command.correlationData);
      if (response === undefined) throw new DynsecError(`no answer to ${command.command}`);
      if (response.error !== undefined) throw new DynsecError(`${describe(commands[index]!)}: ${response.error}`);
    }
    return tagged.map((command) => responses.find((candidate) => candidate.correlationData === command.correlationData)!);
  }

  /** The rules the running broker holds, in the form of the generated ones. */
  async currentRules(): Promise<MosquittoRuleSet> {
    const [roles, clients, groups, defaults, anonymous] = await this.run([
      { command: 'listRoles', verbose: true, count: -1 },
      { command: 'listClients', verbose: true, count: -1 },
      { command: 'listGroups', verbose: true, count: -1 },
      { command: 'getDefaultACLAccess' },
      { command: 'getAnonymousGroup' },
    ]);
    const acls = (defaults!.data?.acls ?? []) as { acltype: string; allow: boolean }[];
    const allowed = (acltype: string) => acls.find((acl) => acl.acltype === acltype)?.allow ?? false;
    const anonymousGroup = (anonymous!.data?.group as { groupname?: string } | undefined)?.groupname;
    return {
      roles: ((roles!.data?.roles ?? []) as Role[]).map((role) => ({ rolename: role.rolename, acls: role.acls ?? [] })),
      clients: ((clients!.data?.clients ?? []) as RuleClient[])
        .map((client) => ({ username: client.username, roles: (client.roles ?? []).map(({ rolename }) => ({ rolename })) })),
      groups: ((groups!.data?.groups ?? []) as RuleGroup[])
        .map((group) => ({ groupname: group.groupname, roles: (group.roles ?? []).map(({ rolename }) => ({ rolename })) })),
      defaultACLAccess: {
        publishClientSend: allowed('publishClientSend'),
        publishClientReceive: allowed('publishClientReceive'),
        subscribe: allowed('subscribe'),
        unsubscribe: allowed('unsubscribe'),
      },
      ...(anonymousGroup ? { anonymousGroup } : {}),
    };
  }

  close(): Promise<void> {
    return this.client.endAsync();
  }
}

function describe(command: DynsecCommand): string {
  const subject = command.username ?? command.rolename ?? command.groupname;
  return subject === undefined ? command.command : `${command.command} ${String(subject)}`;
}
