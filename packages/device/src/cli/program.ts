import { Command } from 'commander';
import { openCliDevice, globalOptions, type GlobalOptions } from './cli_options.js';
import { addSubcommands } from './commands.js';
import { DeviceError } from '../errors.js';
import { CliExit, EXIT, EXIT_CODES_HELP } from './exit_codes.js';
import { runMenu } from './menu.js';
import { Prompter } from './prompter.js';

/** The x3dh-device command line: the interactive menu by default, subcommands for scripts. */
export function buildProgram(): Command {
  const program = new Command('x3dh-device')
    .description('An X3DH device over MQTT 5: the original firmware\'s menu, or one subcommand per step. Speaks wire protocol v2 (signed requests, pinned identities, mailbox) by default, the original firmware\'s v1 with --protocol v1.')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', `\n${EXIT_CODES_HELP}\n\nWithout a subcommand, the interactive menu starts.`);
  for (const option of globalOptions()) program.addOption(option);
  program.command('menu', { isDefault: true })
    .description('the interactive menu of the original firmware (the default)')
    // Words after the program's options land here when they name no subcommand: say so, not "too many arguments".
    .allowExcessArguments()
    .action(async (_options: unknown, command: Command) => {
      if (command.args.length > 0) {
        const known = program.commands.map((c) => c.name()).join(', ');
        throw new DeviceError('INVALID_INPUT', `unknown command '${command.args[0]}'; the commands are: ${known} (x3dh-device --help)`);
      }
      const prompter = new Prompter(process.stdin, process.stdout);
      // A SIGINT outside the terminal's key handling (between prompts, say) ends the menu the same way.
      const onSigint = () => prompter.interrupt();
      process.on('SIGINT', onSigint);
      try {
        const device = await openCliDevice(command.optsWithGlobals<GlobalOptions>(), { prompter, create: true });
        try {
          await runMenu(device, prompter, (text) => console.log(text));
        } finally {
          await device.close();
        }
      } finally {
        process.off('SIGINT', onSigint);
        prompter.close();
      }
      if (prompter.interrupted) throw new CliExit(EXIT.INTERRUPTED, 'Interrupted; the key store is saved and closed.');
    });
  addSubcommands(program);
  for (const command of program.commands) command.addHelpText('after', '\nExit codes: see x3dh-device --help.');
  return program;
}
