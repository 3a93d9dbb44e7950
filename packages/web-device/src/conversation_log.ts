import { element } from './page_elements.js';

interface Line {
  direction: 'in' | 'out';
  text: string;
}

/** What was said with each peer since the page was opened (texts are not kept after reading). */
export class ConversationLog {
  private readonly lines = new Map<string, Line[]>();
  private shown: string | null = null;
  private readonly list = element('log', HTMLOListElement);

  add(peer: string, direction: Line['direction'], text: string): void {
    const lines = this.lines.get(peer) ?? [];
    lines.push({ direction, text });
    this.lines.set(peer, lines);
    if (peer === this.shown) this.render();
  }

  show(peer: string): void {
    this.shown = peer;
    this.render();
  }

  private render(): void {
    const peer = this.shown;
    this.list.replaceChildren(...(peer === null ? [] : this.lines.get(peer) ?? []).map((line) => {
      const item = document.createElement('li');
      item.className = line.direction;
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = line.direction === 'in' ? peer! : 'me';
      item.append(who, document.createTextNode(line.text));
      return item;
    }));
  }
}
