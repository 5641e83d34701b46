import { describe, expect, it } from 'vitest';
import type { EnvironmentDiff } from '../../src/diff/comment-model.ts';
import {
  parsePromotionMetadata,
  renderMetadata,
  renderPromotionBody,
  type PromotionBody,
  type PromotionMetadata,
} from '../../src/workflows/promotion-body.ts';

const metadata: PromotionMetadata = {
  v: 1,
  route: 4,
  strategy: 'folder',
  from: 'staging',
  to: 'production',
  source: 'a'.repeat(40),
  target: null,
  appRepo: {
    provider: 'github',
    fullName: 'org/shop',
    webUrl: 'https://github.com/org/shop',
    installationId: 7,
  },
};

function preview(diffLines: number): EnvironmentDiff {
  const diff = [
    '--- a',
    '+++ b',
    '@@ -1 +1 @@',
    ...Array.from({ length: diffLines }, (_, i) => `+line ${i}`),
  ].join('\n');
  return {
    environment: 'production',
    iacFiles: [{ path: 'clusters/production/shop/values.yaml', change: 'changed', diff }],
    objects: [],
    validation: { result: 'skipped', reason: 'cluster unreachable' },
    notes: [],
  };
}

const body = (over: Partial<PromotionBody> = {}): PromotionBody => ({
  metadata,
  noun: 'pull request',
  app: 'shop',
  from: 'staging',
  to: 'production',
  strategy: 'folder',
  where: { repo: 'iac', head: 'dag/promote/shop/staging-to-production', base: 'main' },
  source: { sha: 'a'.repeat(40), url: 'https://github.com/org/shop/commit/aaa' },
  target: { sha: null, url: null },
  files: [{ path: 'clusters/production/shop/values.yaml', change: 'modified' }],
  preview: preview(3),
  ...over,
});

describe('promotion PR metadata', () => {
  it('round-trips through the body, whatever surrounds it', () => {
    const text = renderPromotionBody(body(), 65_536);
    expect(text.split('\n', 1)[0]).toBe(renderMetadata(metadata));
    expect(parsePromotionMetadata(text)).toEqual(metadata);
    expect(parsePromotionMetadata(`Edited by a person\n\n${text}`)).toEqual(metadata);
  });

  it('cannot be closed early by what it carries', () => {
    const hostile = { ...metadata, from: 'x --> <img src=x>' };
    const line = renderMetadata(hostile);
    expect(line.slice(4, -4)).not.toMatch(/-->|<|>/);
    expect(parsePromotionMetadata(line)).toEqual(hostile);
  });

  it('reads damaged or foreign metadata as none', () => {
    expect(parsePromotionMetadata('no metadata here')).toBeNull();
    expect(parsePromotionMetadata('<!-- dag:promotion {"v":1,"route":"x"} -->')).toBeNull();
    expect(parsePromotionMetadata('<!-- dag:promotion {not json} -->')).toBeNull();
    expect(parsePromotionMetadata(renderMetadata({ ...metadata, v: 2 } as never))).toBeNull();
  });
});

describe('promotion PR body', () => {
  it('lists the commits up to 20, with a compare link for the rest, and escapes their titles', () => {
    const commits = Array.from({ length: 20 }, (_, i) => ({
      sha: `${i}`.padStart(40, 'c'),
      title: i === 0 ? 'Fix <script>alert(1)</script> for @team' : `Commit ${i}`,
      author: 'dev',
      url: `https://github.com/org/shop/commit/${i}`,
    }));
    const text = renderPromotionBody(
      body({
        commits: {
          commits,
          totalCommits: 35,
          files: [],
          url: 'https://github.com/org/shop/compare/b...a',
        },
      }),
      65_536,
    );
    expect(text).toContain('### Commits (35)');
    expect(text).toContain('&lt;script&gt;');
    expect(text).not.toContain('<script>');
    expect(text).not.toMatch(/@team/);
    expect(text).toContain('- … and 15 more: [compare](https://github.com/org/shop/compare/b...a)');
  });

  it('says why commits are missing, and caps the file list at 100', () => {
    const files = Array.from({ length: 130 }, (_, i) => ({
      path: `clusters/production/shop/f${i}.yaml`,
      change: 'added' as const,
    }));
    const text = renderPromotionBody(
      body({ files, commitsNote: 'The target has no release by DAG yet.' }),
      65_536,
    );
    expect(text).toContain('The target has no release by DAG yet.');
    expect(text).toContain('### Files that change (130)');
    expect(text).toContain('- … and 30 more');
    expect(text.match(/\(added\)/g)).toHaveLength(100);
  });

  it('fits the provider limit, the diff preview giving way first', () => {
    const big = body({ preview: preview(20_000) });
    const text = renderPromotionBody(big, 65_536);
    expect(text.length).toBeLessThanOrEqual(65_536);
    expect(parsePromotionMetadata(text)).toEqual(metadata);
    expect(text).toContain('clusters/production/shop/values.yaml');
    expect(text).toContain('Opened by DAG');
    // What does not fit is in the pull request's own diff: there is no dag/diff check run here.
    expect(text).toContain("the pull request's");
    expect(text).not.toContain('dag/diff');
    const tiny = renderPromotionBody(big, 3_000);
    expect(tiny.length).toBeLessThanOrEqual(3_000);
    // A blank line before the rule: right after a line, `---` would turn it into a heading.
    expect(tiny).toContain('_The diff preview does not fit in this description._\n\n---\n');
  });

  it("names GitLab's merge request and its Changes tab in a promotion it hosts", () => {
    const text = renderPromotionBody(
      body({ noun: 'merge request', preview: preview(20_000) }),
      65_536,
    );
    expect(text).toContain("the merge request's **Changes**");
    expect(text).toContain('to refresh this merge request._');
    expect(text).not.toContain('pull request');
    expect(text).not.toContain('Files changed');
  });
});
