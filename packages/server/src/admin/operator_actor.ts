import os from 'node:os';

/** Who runs an operator command, as the audit log names them: the system user and host. */
export function commandLineActor(): string {
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    // A uid without a passwd entry (some containers).
    user = `uid ${process.getuid?.() ?? '?'}`;
  }
  return `cli:${user}@${os.hostname()}`;
}

/** Longest actor the audit log takes from a caller. */
export const MAX_ACTOR_LENGTH = 200;
