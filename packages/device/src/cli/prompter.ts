import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';

/**
 * Not @inquirer/prompts: its prompts own the terminal and need one, while the menu must also be
 * driven through a pipe by scripts and tests, line by line, with end of input as a clean end.
 *
 * Reads answers line by line from a terminal or a pipe. End of input gives null instead of
 * hanging, so a piped script or Ctrl-D ends the menu cleanly. Secret answers are not echoed.
 */
export class Prompter {
  private readonly lines: string[] = [];
  private waiting: ((line: string | null) => void) | null = null;
  private ended = false;
  private muted = false;
  /** Set by Ctrl-C on a terminal: input ended because the user interrupted, not because it ran out. */
  interrupted = false;
  private readonly readline: Interface;

  constructor(input: NodeJS.ReadableStream & { isTTY?: boolean }, private readonly output: NodeJS.WritableStream) {
    const echo = new Writable({
      write: (chunk, _encoding, done) => {
        if (!this.muted) output.write(chunk);
        done();
      },
    });
    this.readline = createInterface({ input, output: echo, terminal: input.isTTY === true });
    this.readline.on('line', (line) => this.deliver(line));
    // Ctrl-C on a terminal ends input like Ctrl-D, so the caller closes the key store properly, and
    // is remembered so the command can exit as interrupted.
    this.readline.on('SIGINT', () => this.interrupt());
    this.readline.on('close', () => {
      this.ended = true;
      this.deliver(null);
    });
  }

  /** The question is readline's prompt, so a terminal redraw (backspace, resize) keeps it on screen. */
  async ask(question: string): Promise<string | null> {
    this.showPrompt(question);
    return this.next();
  }

  async askSecret(question: string): Promise<string | null> {
    this.showPrompt(question);
    this.muted = true;
    try {
      return await this.next();
    } finally {
      this.muted = false;
      this.output.write('\n');
    }
  }

  private showPrompt(question: string): void {
    if (this.ended) {
      this.output.write(question);
      return;
    }
    this.readline.setPrompt(question);
    this.readline.prompt();
  }

  close(): void {
    this.readline.close();
  }

  /** Ends input as interrupted: Ctrl-C as a key on a terminal, or a SIGINT that reached the process. */
  interrupt(): void {
    if (this.interrupted) return;
    this.interrupted = true;
    this.output.write('\n');
    this.readline.close();
  }

  private next(): Promise<string | null> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => { this.waiting = resolve; });
  }

  private deliver(line: string | null): void {
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = null;
      waiting(line);
    } else if (line !== null) {
      this.lines.push(line);
    }
  }
}
