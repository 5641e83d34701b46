import { fromMarkdown } from 'mdast-util-from-markdown';
import { describe, expect, it } from 'vitest';
import { escapeInline } from '../../src/diff/markdown.ts';

const ZWSP = '\u200b';

/** The one paragraph `markdown` parses to, as CommonMark reads it (the text a reader sees). */
function rendered(markdown: string): { types: string[]; text: string } {
  const tree = fromMarkdown(markdown);
  const paragraph = tree.children[0];
  if (tree.children.length !== 1 || paragraph?.type !== 'paragraph') {
    return { types: tree.children.map((c) => c.type), text: '' };
  }
  return {
    types: paragraph.children.map((c) => c.type),
    text: paragraph.children.map((c) => ('value' in c ? c.value : '')).join(''),
  };
}

/**
 * What the providers find in rendered text after Markdown: mentions, issue and merge request
 * references, and GFM's literal autolinks (github.com/github/cmark-gfm autolink.c; GitLab's
 * AutolinkFilter and reference filters run on the rendered text too).
 */
const LINKS_AFTER_RENDERING = /@\w|#\d|!\d|\b[a-z][a-z0-9+.-]*:\/\/|\bwww\./i;

describe('escapeInline', () => {
  it.each([
    // Commit titles read as written: in e-mail (raw Markdown) and rendered alike.
    ['feat: A', 'feat: A'],
    ['fix(api): b', 'fix(api): b'],
    [':rocket: launch', ':rocket: launch'],
    ['don\'t say "never"', 'don\'t say "never"'],
    ['release 1.2.3!', 'release 1.2.3!'],
    // Mentions, references and autolinks read the same but link nowhere.
    ['@someone', `@${ZWSP}someone`],
    ['#12', `#${ZWSP}12`],
    ['Merge !12', `Merge !${ZWSP}12`],
    ['see https://x.y', `see https:${ZWSP}//x.y`],
    ['see www.x.y', `see www${ZWSP}.x.y`],
    ['mail ops@example.com', `mail ops@${ZWSP}example.com`],
    // Markup becomes character references.
    ['plain-name.v1', 'plain-name.v1'],
    ['a<b>&', 'a&lt;b&gt;&amp;'],
    ['*_`[]|~\\$', '&#42;&#95;&#96;&#91;&#93;&#124;&#126;&#92;&#36;'],
    ['{+ added +}', '&#123;+ added +&#125;'],
    // A reference typed by someone is shown, not decoded; nothing breaks it apart.
    ['&#58;', `&amp;#${ZWSP}58;`],
    ['two\nlines\r\u2028here', 'two lines here'],
  ])('%j', (input, expected) => {
    expect(escapeInline(input)).toBe(expected);
  });

  it.each([
    'feat: A',
    'fix(api): b',
    ':rocket: launch',
    'see https://x.y and www.x.y',
    '@someone fixed #12 and !13',
    '[click](https://evil.example) ![img](x)',
    '<img src=x onerror=alert(1)> &amp; &#35;',
    '**bold** _em_ `code` ~~gone~~ $x$ | cell |',
    '# heading?',
    'a\\*b',
  ])('%j renders as one paragraph of its own text, linking nowhere', (input) => {
    const markdown = escapeInline(input);
    const { types, text } = rendered(markdown);
    expect(types).toEqual(['text']);
    expect(text.replaceAll(ZWSP, '')).toBe(input);
    expect(text).not.toMatch(LINKS_AFTER_RENDERING);
    // In an HTML block (`<summary>…`), where Markdown is not read, only references decode.
    expect(markdown).not.toMatch(/<|>/);
  });

  it('leaves ordinary punctuation readable as plain text', () => {
    expect(escapeInline('fix(api): handle "quoted" values; don\'t retry!')).not.toContain('&');
  });

  it('cuts long text', () => {
    expect(escapeInline('x'.repeat(500), 10)).toBe(`${'x'.repeat(9)}…`);
  });
});
