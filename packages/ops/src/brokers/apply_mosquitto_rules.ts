import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readRequired } from '../files/read_required.js';
import { pkiLayout } from '../pki/pki_layout.js';
import { DynsecConnection } from './dynsec_connection.js';
import { MOSQUITTO_FILES } from './mosquitto_config.js';
import { planRuleSync, type DynsecCommand } from './mosquitto_rule_sync.js';
import type { MosquittoRuleSet } from './mosquitto_security_rules.js';

export interface ApplyOptions {
  brokerUri: string;
  servername?: string | undefined;
  dryRun: boolean;
}

function summary(command: DynsecCommand): string {
  const subject = command.username ?? command.groupname ?? command.rolename;
  const detail = command.topic === undefined ? '' : ` ${String(command.acltype)} ${String(command.topic)}`;
  return `${command.command}${subject === undefined ? '' : ` ${String(subject)}`}${detail}`;
}

/**
 * Brings the rules of a running Mosquitto to those of the generated bundle through the dynamic
 * security plugin's API, logged in with the broker administrator's certificate. Mosquitto reads
 * the rules file only at start (a SIGHUP does not reload it), so this is how a device added or
 * revoked takes effect without restarting the broker and dropping the fleet's connections. Returns
 * the changes, one line each.
 */
export async function applyMosquittoRules(bundleDir: string, operatorDir: string, options: ApplyOptions): Promise<string[]> {
  const wanted = JSON.parse(await readRequired(join(bundleDir, MOSQUITTO_FILES.rules), 'run "broker mosquitto" first')) as MosquittoRuleSet;
  const layout = pkiLayout(operatorDir);
  const connection = await DynsecConnection.open({
    url: options.brokerUri,
    servername: options.servername,
    ca: await readFile(layout.caCert, 'utf8'),
    cert: await readRequired(layout.brokerAdminCert, 'run "pki broker-admin" first'),
    key: await readRequired(layout.brokerAdminKey, 'run "pki broker-admin" first'),
  });
  try {
    const commands = planRuleSync(await connection.currentRules(), wanted);
    if (!options.dryRun) await connection.run(commands);
    return commands.map(summary);
  } finally {
    await connection.close();
  }
}
