import { Command, InvalidArgumentError } from 'commander';
import { defaultOperatorKeyDir, DEPLOYMENT_ID_PATTERN, newOperatorIdentity, operatorKeyLayout, writeOperatorIdentity } from '../operator/operator_key.js';
import { withOutputOptions, writeOptions, type OutputOptions } from './common_options.js';

function deploymentId(text: string): string {
  if (!DEPLOYMENT_ID_PATTERN.test(text)) throw new InvalidArgumentError('a deployment id is 1 to 64 of A-Z a-z 0-9 . _ -');
  return text;
}

export function operatorCommand(): Command {
  const operator = new Command('operator').description('the operator signing key that certifies devices\' identity keys (protocol v2)');

  withOutputOptions(operator.command('init').description(
    'make the operator signing key pair (X25519, XEdDSA signatures) and the deployment id: the key server signs identity ' +
    'certificates with the private key (x3dh-server --operator-key FILE --deployment-id ID); devices are provisioned with the ' +
    'public key and deployment id printed here (device --operator-key/--deployment-id, firmware keys-h)'))
    .option('-o, --out <dir>', 'where to write operator.key (owner-only), operator.pub and deployment-id (default: <dir>/operator)')
    .option('--deployment-id <id>', 'the deployment id to use (default: 16 random hex digits)', deploymentId)
    .action(async (options: OutputOptions & { out?: string; deploymentId?: string }) => {
      const keyDir = options.out ?? defaultOperatorKeyDir(options.dir);
      const identity = newOperatorIdentity(options.deploymentId);
      await writeOperatorIdentity(keyDir, identity, writeOptions(options));
      const layout = operatorKeyLayout(keyDir);
      console.log(`operator public key: ${identity.publicKey}`);
      console.log(`deployment id: ${identity.deploymentId}`);
      console.log(`key server: x3dh-server --operator-key ${layout.privateKey} --deployment-id ${identity.deploymentId}`);
      console.log(`devices: --operator-key ${identity.publicKey} --deployment-id ${identity.deploymentId} (firmware: x3dh-ops firmware keys-h)`);
    });

  return operator;
}
