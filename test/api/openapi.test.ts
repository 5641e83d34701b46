// The OpenAPI document: served, well-formed, and saying of request bodies what the API's own
// validation says. (Every answer of test/api/fix-proposals.test.ts is checked against it too.)
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { openApiDocument, openApiHandler, OPENAPI_PATH } from '../../src/api/openapi.ts';
import { validateProposal } from '../../src/fix/proposal.ts';
import { mismatch, proposalErrors } from './openapi-conformance.ts';

const valid = {
  target: { app: 'my-app', environment: 'staging' },
  change: { kind: 'values-patch', patch: { resources: { limits: { memory: '256Mi' } } } },
  title: 'Raise the memory limit',
  rationale: 'OOMKilled at peak.',
  agent: { name: 'fixer', model: 'm' },
};

describe('OpenAPI document', () => {
  it('is OpenAPI 3.1 whose every schema compiles in strict mode', () => {
    const doc = openApiDocument() as {
      openapi: string;
      components: { schemas: Record<string, object> };
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    const ajv = new Ajv2020({ strict: true });
    ajv.addFormat('date-time', true);
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      ajv.addSchema(schema, `#/components/schemas/${name}`);
    }
    for (const name of Object.keys(doc.components.schemas)) {
      expect(ajv.getSchema(`#/components/schemas/${name}`), name).toBeTypeOf('function');
    }
    expect(Object.keys(doc.paths['/api/v1/fix-proposals']?.post?.responses ?? {})).toEqual(
      expect.arrayContaining([
        '200',
        '202',
        '400',
        '401',
        '403',
        '404',
        '409',
        '413',
        '415',
        '422',
        '429',
      ]),
    );
  });

  it.each([
    ['a valid proposal', valid, true],
    [
      'a workload target',
      { ...valid, target: { cluster: 'c', namespace: 'n', kind: 'Deployment', name: 'w' } },
      true,
    ],
    [
      'files',
      { ...valid, change: { kind: 'files', files: [{ path: 'a.yaml', content: 'a: 1' }] } },
      true,
    ],
    ['a diff', { ...valid, change: { kind: 'diff', diff: '--- a\n+++ b\n' } }, true],
    [
      'a diff for the IAC repository',
      { ...valid, change: { kind: 'diff', diff: '--- a\n+++ b\n', repository: 'iac' } },
      true,
    ],
    [
      'a values patch for the IAC repository',
      { ...valid, change: { kind: 'values-patch', patch: {}, repository: 'iac' } },
      false,
    ],
    [
      'an unknown repository',
      { ...valid, change: { kind: 'diff', diff: '--- a\n+++ b\n', repository: 'cluster' } },
      false,
    ],
    ['an unknown field', { ...valid, extra: 1 }, false],
    ['an unknown field in the target', { ...valid, target: { ...valid.target, x: 1 } }, false],
    ['no agent', { ...valid, agent: undefined }, false],
    ['an unknown change kind', { ...valid, change: { kind: 'script', script: 'rm -rf /' } }, false],
    ['a title too long', { ...valid, title: 'x'.repeat(121) }, false],
    [
      'too many files',
      {
        ...valid,
        change: {
          kind: 'files',
          files: Array.from({ length: 21 }, (_, i) => ({ path: `f${i}`, content: '' })),
        },
      },
      false,
    ],
  ])('agrees with validateProposal on %s', (_label, body, ok) => {
    const json = JSON.parse(JSON.stringify(body)) as unknown;
    expect(validateProposal(json).ok).toBe(ok);
    expect(proposalErrors(json) === undefined).toBe(ok);
  });

  it("takes the README's curl example", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### The REST API'));
    const body = /-d '(\{[\s\S]*?\})'/.exec(section)?.[1];
    expect(body).toBeDefined();
    const json = JSON.parse(body ?? '') as unknown;
    expect(validateProposal(json).ok).toBe(true);
    expect(proposalErrors(json)).toBeUndefined();
  });

  it('tells answers that break it', () => {
    expect(
      mismatch('POST', '/api/v1/fix-proposals', 202, {
        id: 1,
        state: 'validating',
        links: { self: 'x' },
      }),
    ).toBeUndefined();
    expect(mismatch('POST', '/api/v1/fix-proposals', 202, { id: 1 })).toMatch(/202/);
    expect(mismatch('POST', '/api/v1/fix-proposals', 418, { error: 'x' })).toMatch(
      /does not document/,
    );
    expect(mismatch('GET', '/api/v1/fix-proposals/1', 404, { error: 'x', secret: 1 })).toMatch(
      /404/,
    );
  });

  it('is served at /api/v1/openapi.json', async () => {
    const handler = openApiHandler();
    const server = createServer((req, res) => {
      void handler(req, res).then((handled) => {
        if (!handled) res.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const answer = await fetch(`${base}${OPENAPI_PATH}`);
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual(openApiDocument());
      expect((await fetch(`${base}/api/v1/other`)).status).toBe(404);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
