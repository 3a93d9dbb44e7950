#!/usr/bin/env node
import { CommanderError } from 'commander';
import { DeviceError } from '../errors.js';
import { CliExit, EXIT, exitCodeFor } from './exit_codes.js';
import { buildProgram } from './program.js';

/**
 * Runs the CLI and turns failures into exit codes: expected ones as one line (JSON with --json),
 * unexpected ones with their stack, since those are defects.
 */
async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    await buildProgram().parseAsync(argv);
    return EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    if (error instanceof CliExit) {
      console.error(error.message);
      return error.exitCode;
    }
    if (error instanceof DeviceError) {
      if (json) console.log(JSON.stringify({ ok: false, error: { kind: error.kind, message: error.message } }));
      else console.error(`Error: ${error.message}`);
      return exitCodeFor[error.kind];
    }
    console.error(error);
    return EXIT.UNEXPECTED;
  }
}

// A reader that stops early (`| head`) closes the pipe: the rest of the output goes nowhere, but the
// command still finishes its work (a send, a save) and exits with its own code.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});
process.exitCode = await main(process.argv);
