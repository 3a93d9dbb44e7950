import { execFile } from 'node:child_process';

/** The key server command run for the server's half of a revocation, unless the operator names another. */
export const DEFAULT_KEY_SERVER_COMMAND = 'x3dh-server';

/** The key server refused or could not run its half of a revocation: nothing was revoked. */
export class KeyServerStepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyServerStepError';
  }
}

/**
 * The key server's half of a revocation: `x3dh-server device disable NAME` for each device, as the
 * operator would run it, so that the directory stops serving the device and its identity key
 * (which may have been stolen with the certificate) cannot bring it back. The key server command
 * finds its store as it always does (X3DH_DATABASE_URL or X3DH_DATA_DIR in the environment).
 * `command` is split at spaces: a program and its leading arguments.
 */
export async function disableOnKeyServer(command: string, devices: readonly string[], progress: (line: string) => void): Promise<void> {
  const [program, ...leading] = command.trim().split(/\s+/);
  for (const device of devices) {
    const args = [...leading, 'device', 'disable', device];
    const outcome = await new Promise<{ failed: string | null; stdout: string }>((resolve) => {
      execFile(program!, args, { timeout: 120_000 }, (error, stdout, stderr) => {
        resolve({ failed: error ? (stderr.trim() || error.message) : null, stdout });
      });
    });
    if (outcome.failed !== null) {
      throw new KeyServerStepError(`${[program, ...args].join(' ')} failed: ${outcome.failed}\nnothing was revoked; ` +
        'fix the key server step (--key-server-command, X3DH_DATABASE_URL or X3DH_DATA_DIR), or revoke the certificate ' +
        'alone with --certificate-only (a device never enrolled on the key server)');
    }
    progress(outcome.stdout.trim());
  }
}
