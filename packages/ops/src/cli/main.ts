#!/usr/bin/env node
import { Command } from 'commander';
import { prepareOperatorDir } from '../files/operator_dir.js';
import { brokerCommand } from './broker_command.js';
import { firmwareCommand } from './firmware_command.js';
import { k8sSecretsCommand } from './k8s_command.js';
import { operatorCommand } from './operator_command.js';
import { pkiCommand } from './pki_command.js';
import { wireGuardCommand } from './wireguard_command.js';

function operatorProgram(): Command {
  return new Command('x3dh-ops')
    .description('Operator tools for an x3dh-iot deployment: certificates, the operator signing key, WireGuard peers, firmware keys.h, broker configurations, Kubernetes secrets')
    .showHelpAfterError()
    .hook('preAction', async (_program, command) => {
      const { dir } = command.opts<{ dir?: string }>();
      if (dir !== undefined) await prepareOperatorDir(dir);
    })
    .addCommand(pkiCommand())
    .addCommand(operatorCommand())
    .addCommand(wireGuardCommand())
    .addCommand(firmwareCommand())
    .addCommand(brokerCommand())
    .addCommand(k8sSecretsCommand());
}

// A reader that stops early (`| head`) closes the pipe: the rest of the output goes nowhere, but the
// command still finishes writing its files.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});
operatorProgram()
  .parseAsync()
  .catch((error: unknown) => {
    console.error(`x3dh-ops: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
