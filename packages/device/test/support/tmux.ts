import { execFileSync } from 'node:child_process';

const shellQuote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/**
 * One program in a tmux pane, on a tmux server of its own, driven like a person at a terminal:
 * keys in with send-keys, screen out with capture-pane. `expect` waits for text that appears after
 * everything matched before, so a repeated prompt is told apart from its earlier copies.
 */
export class TmuxPane {
  private consumed = 0;

  private constructor(private readonly socket: string, readonly name: string) {}

  static start(socket: string, name: string, command: readonly string[], env: Record<string, string>, cwd: string): TmuxPane {
    const envWords = Object.entries(env).map(([key, value]) => shellQuote(`${key}=${value}`));
    const line = ['env', ...envWords, ...command.map(shellQuote)].join(' ');
    execFileSync('tmux', ['-L', socket, 'new-session', '-d', '-s', name, '-x', '200', '-y', '50', '-c', cwd, line]);
    execFileSync('tmux', ['-L', socket, 'set-option', '-t', name, 'remain-on-exit', 'on']);
    return new TmuxPane(socket, name);
  }

  /** Types a line and presses Enter. */
  type(text: string): void {
    execFileSync('tmux', ['-L', this.socket, 'send-keys', '-t', this.name, '-l', text]);
    execFileSync('tmux', ['-L', this.socket, 'send-keys', '-t', this.name, 'Enter']);
  }

  /** Presses one key by its tmux name (`C-c`, `Enter`). */
  press(key: string): void {
    execFileSync('tmux', ['-L', this.socket, 'send-keys', '-t', this.name, key]);
  }

  /** Everything the pane has shown, wrapped lines joined. */
  screen(): string {
    return execFileSync('tmux', ['-L', this.socket, 'capture-pane', '-p', '-J', '-S', '-', '-t', this.name], { encoding: 'utf8' });
  }

  async expect(text: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = this.screen();
      const at = screen.indexOf(text, this.consumed);
      if (at >= 0) {
        this.consumed = at + text.length;
        return;
      }
      if (Date.now() > deadline) throw new Error(`pane ${this.name}: "${text}" did not appear within ${timeoutMs} ms; screen:\n${screen}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Whether the program in the pane has exited. */
  dead(): boolean {
    return execFileSync('tmux', ['-L', this.socket, 'display-message', '-p', '-t', this.name, '#{pane_dead}'], { encoding: 'utf8' }).trim() === '1';
  }

  /** The exit status of the program once the pane is dead, when tmux reports one (it does not always, at once). */
  exitStatus(): number | null {
    const status = execFileSync('tmux', ['-L', this.socket, 'display-message', '-p', '-t', this.name, '#{pane_dead_status}'], { encoding: 'utf8' }).trim();
    return status === '' ? null : Number(status);
  }

  static killServer(socket: string): void {
    try {
      execFileSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}
