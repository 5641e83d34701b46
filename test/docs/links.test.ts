// The README and the docs are read from a plain clone: every link points inside the repository
// and at something that exists.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');
const documents = [
  'README.md',
  ...readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** Targets of Markdown links and images: `[text](target)`, anchors and titles removed. */
function linkTargets(markdown: string): string[] {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...withoutCode.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] as string);
}

describe.each(documents)('%s', (document) => {
  const text = readFileSync(path.join(root, document), 'utf8');
  const targets = linkTargets(text);

  it('links only inside the repository, to files that exist', () => {
    const problems = targets
      .filter((target) => !target.startsWith('#'))
      .flatMap((target) => {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target))
          return [`${target}: points outside the repository`];
        const file = path.resolve(
          path.dirname(path.join(root, document)),
          target.split('#')[0] as string,
        );
        if (!file.startsWith(root + path.sep)) return [`${target}: points outside the repository`];
        return existsSync(file) ? [] : [`${target}: does not exist`];
      });
    expect(problems).toEqual([]);
  });
});

describe('the link check', () => {
  it('finds links, and tells outside and missing ones apart', () => {
    expect(
      linkTargets('[a](https://x.example) [b](docs/x.md "t") `[c](no)` ![d](img.png)'),
    ).toEqual(['https://x.example', 'docs/x.md', 'img.png']);
  });
});
