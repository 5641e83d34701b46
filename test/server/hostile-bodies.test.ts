// Malformed and hostile requests thrown at a running DAG (`node src/main.ts`, GitLab mode, its
// embedded database), at both doors an agent uses: POST /api/v1/fix-proposals and POST /mcp.
// Each gets a clear 4xx; DAG answers /healthz after each; its resident memory (VmRSS of the
// process) stays bounded; and nothing is written: no fix proposal, no job, no GitLab request.
//
// What a refusal looks like at /mcp: before the SDK sees the body (content type, token, size,
// UTF-8, nesting, JSON) it is the REST API's HTTP 4xx `{error}`; a body that is JSON but not a
// JSON-RPC message is the SDK's HTTP 400 with a JSON-RPC error; a well-formed `tools/call` whose
// arguments are refused is HTTP 200 with a tool result `isError: true` whose JSON text carries
// the REST API's status (4xx) and error, as MCP has tools report their failures; arguments
// outside a tool's input schema (unknown fields included) are the SDK's invalid-params error.
//
// Not here: bodies over 2 MiB. DAG answers those 413 before reading them (test/api/
// fix-proposals.test.ts proves it in-process, declared and chunked), but a client of the real
// process is left waiting for that answer while its body is unfinished (webhooks too): a
// finding to look into, not hidden by this test.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSettings } from '../../src/settings.ts';
import { SqlApiTokenStore } from '../../src/store/api-tokens.ts';
import { openDatabase } from '../../src/store/open.ts';
import { startRealDagStand, type Dag, type RealDagStand } from '../helpers/real-dag.ts';

const DAY = 86_400_000;
let stand: RealDagStand;
let dag: Dag;
let dataDir: string;
const secrets = { good: '', expired: '', revoked: '' };

beforeAll(async () => {
  stand = await startRealDagStand('dag-hostile');
  dataDir = path.join(stand.dir, 'data');
  await stand.seed(dataDir);
  const db = await stand.openDag(dataDir);
  try {
    const config = {
      findApp: async () => undefined,
      listApps: async () => [],
      listEnvironments: async () => [],
    };
    const create = async (name: string, now: number, lifetimeMs: number) =>
      (
        await new SqlApiTokenStore(db, config, { now: () => new Date(now) }).create({
          name,
          permission: 'propose',
          scope: { all: true },
          lifetimeMs,
        })
      ).secret;
    secrets.good = await create('agent', Date.now(), DAY);
    secrets.expired = await create('old', Date.now() - 3 * DAY, DAY);
    secrets.revoked = await create('gone', Date.now(), DAY);
    await new SqlApiTokenStore(db, config).revoke('gone');
  } finally {
    await db.close();
  }
  dag = await stand.startDag(dataDir);
}, 180_000);

afterAll(async () => {
  stand?.killAll();
  await stand?.stop();
});

/** The resident memory of DAG's process, in MiB. */
function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) / 1024;
}

const proposal = (overrides: Record<string, unknown> = {}) => ({
  target: { app: 'diaspora', environment: 'production' },
  change: { kind: 'values-patch', patch: { replicaCount: 2 } },
  title: 'Two replicas',
  rationale: 'One replica is not enough.',
  evidence: [],
  agent: { name: 'sre-agent', model: 'test' },
  ...overrides,
});

/** Billion laughs: nine aliases of nine aliases, eight deep (9^9 strings if expanded). */
const laughs = [
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  ...Array.from({ length: 8 }, (_, i) => {
    const p = i === 0 ? 'a' : `l${i - 1}`;
    return `l${i}: &l${i} [${Array(9).fill(`*${p}`).join(',')}]`;
  }),
].join('\n');

const nested = (depth: number): unknown => (depth === 0 ? 'x' : { a: nested(depth - 1) });
const files = (file: string, content = 'replicaCount: 2\n') =>
  proposal({ change: { kind: 'files', files: [{ path: file, content }] } });

/** Proposals whose content is hostile: refused by the pipeline, at both doors. */
const HOSTILE_PROPOSALS: Array<{ label: string; body: unknown; status: number }> = [
  {
    label: 'a patch nested 40 deep',
    body: proposal({ change: { kind: 'values-patch', patch: nested(36) } }),
    status: 413,
  },
  {
    label: 'a YAML bomb as a whole values file',
    body: files('deploy/values-production.yaml', laughs),
    status: 422,
  },
  {
    label: 'a YAML bomb in a diff creating a file',
    body: proposal({
      change: {
        kind: 'diff',
        diff: `--- /dev/null\n+++ b/deploy/values-production.yaml\n@@ -0,0 +1,9 @@\n+${laughs.split('\n').join('\n+')}\n`,
      },
    }),
    status: 422,
  },
  { label: 'a parent path', body: files('../etc/passwd'), status: 400 },
  { label: 'an absolute path', body: files('/etc/passwd'), status: 400 },
  { label: 'a path out of the repo', body: files('deploy/../../x.yaml'), status: 400 },
  { label: 'a .git path', body: files('.git/config'), status: 400 },
  { label: 'a NUL in a path', body: files('deploy/values-production.yaml\u0000.txt'), status: 400 },
  { label: 'a backslash path', body: files('deploy\\..\\..\\x.yaml'), status: 400 },
  {
    label: 'a parent path in a diff',
    body: proposal({
      change: { kind: 'diff', diff: '--- a/../x.yaml\n+++ b/../x.yaml\n@@ -1 +1 @@\n-a\n+b\n' },
    }),
    status: 400,
  },
  { label: 'a huge title', body: proposal({ title: 'x'.repeat(1_900_000) }), status: 413 },
  { label: 'unknown fields', body: { ...proposal(), admin: true }, status: 400 },
];

type Sent = {
  body?: string | Buffer;
  contentType?: string | null;
  token?: string | null;
  /** A Content-Length declared, with no body sent. */
  declared?: number;
};

type Raw = { label: string } & Sent;

const valid = JSON.stringify(proposal());
const mcpCall = (args: unknown) =>
  JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'propose_fix', arguments: args },
  });

/** Requests refused before any proposal is looked at, with the body each door gets. */
function rawCases(wrap: (text: string) => string): Raw[] {
  const body = wrap(valid);
  return [
    { label: 'nested arrays', body: `${'['.repeat(100_000)}${']'.repeat(100_000)}` },
    { label: 'unclosed nesting', body: '{"a":'.repeat(200_000) },
    {
      label: 'invalid UTF-8',
      body: Buffer.concat([
        Buffer.from(body.slice(0, 30)),
        Buffer.from([0xc3, 0x28]),
        Buffer.from(body.slice(30)),
      ]),
    },
    {
      label: 'overlong UTF-8',
      body: Buffer.concat([
        Buffer.from(body.slice(0, 30)),
        Buffer.from([0xc0, 0xaf]),
        Buffer.from(body.slice(30)),
      ]),
    },
    { label: 'not JSON', body: body.slice(0, body.length / 2) },
    { label: 'form data', body, contentType: 'application/x-www-form-urlencoded' },
    { label: 'UTF-16 JSON', body, contentType: 'application/json; charset=utf-16' },
    { label: 'no content type', body, contentType: null },
    { label: 'no token', body, token: null },
    { label: 'a garbage token', body, token: 'dag_garbage' },
    { label: 'an expired token', body, token: secrets.expired },
    { label: 'a revoked token', body, token: secrets.revoked },
  ];
}

async function send(
  url: string,
  sent: Sent,
): Promise<{ status: number; text: string; type: string }> {
  const headers: Record<string, string> = { accept: 'application/json, text/event-stream' };
  if (sent.contentType !== null) headers['content-type'] = sent.contentType ?? 'application/json';
  const token = sent.token === undefined ? secrets.good : sent.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (sent.declared !== undefined) {
    // A declared length the body never reaches (its first 64 KiB sent, the rest never):
    // answered from the header alone. (A request whose headers alone arrive, no body byte,
    // gets no answer from the real process, webhooks included; not looked into here.)
    const { request } = await import('node:http');
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        { method: 'POST', headers: { ...headers, 'content-length': sent.declared }, agent: false },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => {
            resolve({
              status: res.statusCode ?? 0,
              text,
              type: String(res.headers['content-type']),
            });
            req.destroy();
          });
        },
      );
      req.on('error', reject);
      req.write(Buffer.alloc(64 * 1024, 0x20));
    });
  }
  const res = await fetch(url, { method: 'POST', headers, body: sent.body ?? '' });
  return {
    status: res.status,
    text: await res.text(),
    type: res.headers.get('content-type') ?? '',
  };
}

describe('hostile bodies at a running DAG', () => {
  it(
    'answers each with a clear 4xx, stays up, keeps its memory bounded and writes nothing',
    { timeout: 300_000 },
    async () => {
      const base = `http://127.0.0.1:${dag.port}`;
      const health = async () => (await fetch(`${base}/healthz`)).status;
      const before = rssMiB(dag.pid);
      let peak = before;
      const requestsBefore = stand.gitlab.requests();
      const answers: Array<{ door: string; label: string; status: number; error: string }> = [];

      for (const [door, wrap] of [
        ['rest', (text: string) => text],
        [
          'mcp',
          (text: string) =>
            `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"propose_fix","arguments":${text}}}`,
        ],
      ] as const) {
        const url = `${base}${door === 'rest' ? '/api/v1/fix-proposals' : '/mcp'}`;
        for (const raw of rawCases(wrap)) {
          const answer = await send(url, raw);
          expect(answer.type, `${door}: ${raw.label}`).toMatch(/^application\/json/);
          const error = (JSON.parse(answer.text) as { error?: unknown }).error;
          answers.push({
            door,
            label: raw.label,
            status: answer.status,
            error: JSON.stringify(error),
          });
          expect(await health(), `${door}: ${raw.label}`).toBe(200);
          peak = Math.max(peak, rssMiB(dag.pid));
        }
        for (const hostile of HOSTILE_PROPOSALS) {
          const answer = await send(url, {
            body: door === 'rest' ? JSON.stringify(hostile.body) : mcpCall(hostile.body),
          });
          const label = `${door}: ${hostile.label}`;
          if (door === 'rest') {
            expect(answer.status, label).toBe(hostile.status);
            answers.push({
              door,
              label: hostile.label,
              status: answer.status,
              error: answer.text.slice(0, 200),
            });
          } else {
            // The tool's refusal: a result with isError, carrying the REST API's status.
            expect(answer.status, label).toBe(200);
            const result = (
              JSON.parse(answer.text) as {
                result: { isError?: boolean; content: Array<{ text: string }> };
              }
            ).result;
            expect(result.isError, label).toBe(true);
            const text = result.content[0]?.text ?? '';
            // Arguments outside the tool's input schema are the SDK's invalid-params error
            // (-32602); the rest are DAG's refusals, with the REST API's status.
            const sdk = text.startsWith('MCP error -32602');
            const refused = sdk
              ? { status: 400, error: text }
              : (JSON.parse(text) as { status: number; error: string });
            if (!sdk) expect(refused.status, label).toBe(hostile.status);
            answers.push({
              door,
              label: hostile.label,
              status: refused.status,
              error: refused.error,
            });
          }
          expect(await health(), label).toBe(200);
          peak = Math.max(peak, rssMiB(dag.pid));
        }
      }
      // JSON that is not a JSON-RPC message: the SDK's own 4xx.
      for (const body of ['null', '{"method":"tools/call"}', '"x"']) {
        const answer = await send(`${base}/mcp`, { body });
        expect(answer.status, body).toBeGreaterThanOrEqual(400);
        expect(answer.status, body).toBeLessThan(500);
        expect(JSON.parse(answer.text), body).toMatchObject({
          jsonrpc: '2.0',
          error: { code: expect.any(Number) },
        });
      }
      // Without the Accept header MCP asks for: the SDK's 406.
      const noAccept = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${secrets.good}` },
        body: mcpCall(proposal()),
      });
      expect(noAccept.status).toBe(406);

      for (const answer of answers) {
        const label = `${answer.door}: ${answer.label}`;
        expect(answer.status, label).toBeGreaterThanOrEqual(400);
        expect(answer.status, label).toBeLessThan(500);
        expect(answer.error.length, label).toBeGreaterThan(2); // a message, not an empty body
        expect(answer.error, label).not.toContain(secrets.good.slice(12));
      }
      const status = (door: string, label: string) =>
        answers.find((a) => a.door === door && a.label === label)?.status;
      for (const door of ['rest', 'mcp']) {
        expect(status(door, 'invalid UTF-8')).toBe(400);
        expect(status(door, 'nested arrays')).toBe(400);
        expect(status(door, 'form data')).toBe(415);
        expect(status(door, 'an expired token')).toBe(401);
        expect(status(door, 'a revoked token')).toBe(401);
      }

      // Up, bounded, and nothing written anywhere.
      expect(dag.output()).not.toContain(secrets.good);
      const grown = peak - before;
      expect(grown, `VmRSS ${before.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB`).toBeLessThan(
        256,
      );
      expect(stand.gitlab.requests()).toBe(requestsBefore);
      const db = await openDatabase(
        readSettings({ DAG_DATA_DIR: dataDir, DAG_ENCRYPTION_KEY: stand.encryptionKey }).database,
        { attach: true },
      );
      try {
        expect((await db.query('SELECT id FROM fix_proposals')).rows).toEqual([]);
        expect(
          (await db.query("SELECT id FROM pgboss.job WHERE name = 'dag.fix-proposal'")).rows,
        ).toEqual([]);
      } finally {
        await db.close();
      }
      console.info(
        `hostile bodies: ${answers.length + 5} requests, VmRSS ${before.toFixed(0)} -> peak ${peak.toFixed(0)} MiB`,
      );
    },
  );
});
