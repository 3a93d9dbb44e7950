import { readFile } from 'node:fs/promises';

/** Reads a file another command should have written, saying which command when it is missing. */
export async function readRequired(path: string, hint: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`missing ${path} (${hint})`, { cause: error });
  }
}
