import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

/**
 * Every relative link of every tracked Markdown file must resolve inside the repository: to a file
 * or folder that exists and, for `#anchor`, to a heading of the target. Docs that point outside the
 * repository break for everyone who clones it.
 */

const root = resolve(import.meta.dirname, '../../..');
const markdownFiles = execFileSync('git', ['ls-files', '*.md'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);

/**
 * Inline links and images outside code, and relative Markdown paths written as code (`../x.md`),
 * which readers follow by hand.
 */
function links(markdown: string): string[] {
  const outsideFences = markdown.replace(/^(```|~~~)[\s\S]*?^\1/gm, '');
  const prose = outsideFences.replace(/`[^`\n]*`/g, '');
  const inline = [...prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
  const codePaths = [...outsideFences.matchAll(/`(\.\.?\/[^`\s]+\.md)`/g)].map((m) => m[1]!);
  return [...inline, ...codePaths];
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  const prose = markdown.replace(/^(```|~~~)[\s\S]*?^\1/gm, '');
  for (const [, heading] of prose.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = heading!.toLowerCase().replace(/`/g, '').replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

test('every relative link in the Markdown files resolves inside the repository', () => {
  const broken: string[] = [];
  for (const file of markdownFiles) {
    const source = join(root, file);
    for (const link of links(readFileSync(source, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto: and the like
      const [path, anchor] = link.split('#', 2) as [string, string | undefined];
      const target = path === '' ? source : resolve(dirname(source), decodeURIComponent(path));
      const outside = relative(root, target).startsWith('..');
      if (outside || !existsSync(target)) {
        broken.push(`${file}: ${link} (${outside ? 'outside the repository' : 'no such file'})`);
      } else if (anchor && target.endsWith('.md') && statSync(target).isFile() && !anchors(readFileSync(target, 'utf8')).has(anchor)) {
        broken.push(`${file}: ${link} (no such heading)`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

test('the link check sees links, and ignores code', () => {
  assert.deepEqual(
    links('see [a](docs/x.md#y) and `[b](nope.md)`\n```\n[c](nope.md)\n```\n![img](p.png "t") (`../../spec/w.md`)'),
    ['docs/x.md#y', 'p.png', '../../spec/w.md'],
  );
  assert.deepEqual([...anchors('# Title\n## 10. Guarantees and the tests\n## Title\n')], ['title', '10-guarantees-and-the-tests', 'title-1']);
});
