// DAG as a service: webhook acknowledgement latency, startup time (embedded on a fresh and on
// an existing data folder, and Postgres) and idle memory (DAG itself and the embedded
// database's process apart, and DAG on Postgres), each against a plain node:http server child
// doing the least possible.

import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { startPostgres } from '../test/helpers/postgres-server.ts';
import {
  ROOT,
  dagConfig,
  log,
  median,
  post,
  result,
  rssMb,
  startDag,
  startPlain,
  stopChildren,
  tempDir,
  timeIt,
  waitReady,
  type BenchResult,
  type Child,
  type DagConfig,
} from './lib.ts';

const WARMUP = 5;
const REQUESTS = 50;
const STARTUPS = 3;
const IDLE_MS = 3_000;

type WebhookDefinition = { name: string; examples: { ref?: string }[] };

/** A branch push (not a tag) from @octokit/webhooks-examples, as the exact bytes sent. */
async function pushPayload(): Promise<Buffer> {
  const file = path.join(ROOT, 'node_modules/@octokit/webhooks-examples/api.github.com/index.json');
  const definitions = JSON.parse(await readFile(file, 'utf8')) as WebhookDefinition[];
  const examples = definitions.find((d) => d.name === 'push')?.examples ?? [];
  const example = examples.find((e) => e.ref?.startsWith('refs/heads/')) ?? examples[0];
  if (!example) throw new Error(`no push example in ${file}`);
  return Buffer.from(JSON.stringify(example));
}

/** Median acknowledgement time of correctly signed push deliveries, after warm-up. */
async function webhookAckMs(child: Child, secret: string, body: Buffer): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = `${child.url}/api/github/webhooks`;
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  const samples: number[] = [];
  try {
    for (let i = 0; i < WARMUP + REQUESTS; i++) {
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'GitHub-Hookshot/dag-bench',
        'x-github-event': 'push',
        'x-github-delivery': randomUUID(),
        'x-github-hook-id': '1',
        'x-hub-signature-256': signature,
      };
      let status = 0;
      let text = '';
      const ms = await timeIt(async () => {
        ({ status, body: text } = await post(agent, url, headers, body));
      });
      if (status < 200 || status >= 300) {
        throw new Error(`${child.name} answered ${status} to a signed push: ${text}`);
      }
      if (i >= WARMUP) samples.push(ms);
    }
  } finally {
    agent.destroy();
  }
  return median(samples);
}

/** Spawn-to-first-200 of /readyz, median of STARTUPS fresh starts. */
async function startupMs(start: (run: number) => Promise<Child>): Promise<number> {
  const samples: number[] = [];
  for (let run = 0; run < STARTUPS; run++) {
    const child = await start(run);
    try {
      samples.push((await waitReady(child)) - child.spawnedAt);
    } finally {
      await stopChildren(child);
    }
  }
  log(`  startup samples (ms): ${samples.map((s) => s.toFixed(0)).join(', ')}`);
  return median(samples);
}

/** The embedded database's process of a DAG on `dataDir`: the pid in its lock file. */
async function databasePid(dataDir: string): Promise<number> {
  return Number.parseInt(await readFile(path.join(dataDir, 'data.lock'), 'utf8'), 10);
}

/** RSS IDLE_MS after ready: of the DAG process, and of its database process with `dataDir`. */
async function idleRss(
  child: Child,
  dataDir?: string,
): Promise<{ rss: number; dbRss: number | undefined }> {
  await waitReady(child);
  await sleep(IDLE_MS);
  const rss = await rssMb(child.pid);
  const dbRss = dataDir ? await rssMb(await databasePid(dataDir)) : undefined;
  return { rss, dbRss };
}

/** Idle RSS; then the webhook loop on the same (now warm) process. */
async function idleThenWebhooks(
  start: () => Promise<Child>,
  secret: string,
  body: Buffer,
  dataDir?: string,
): Promise<{ rss: number; dbRss: number | undefined; ack: number }> {
  const child = await start();
  try {
    const memory = await idleRss(child, dataDir);
    const ack = await webhookAckMs(child, secret, body);
    return { ...memory, ack };
  } finally {
    await stopChildren(child);
  }
}

async function createDatabase(adminUrl: string): Promise<string> {
  const name = `dag_bench_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`); // name is [a-z0-9_] by construction
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

type Fresh = (label: string, databaseUrl?: string) => DagConfig;

/**
 * Startup on a fresh database of a throwaway PostgreSQL server, then the idle RSS of DAG on
 * one; the server is stopped afterwards.
 */
async function postgresRun(fresh: Fresh): Promise<{ startup: number; rss: number }> {
  log('PostgreSQL: starting a throwaway server');
  const postgres = await startPostgres({ log: (m) => log(`  ${m}`) });
  try {
    log('DAG on PostgreSQL: startup');
    const startup = await startupMs(async (i) =>
      startDag(fresh(`postgres-${i}`, await createDatabase(postgres.url))),
    );
    log('DAG on PostgreSQL: idle RSS');
    const child = await startDag(fresh('postgres-idle', await createDatabase(postgres.url)));
    try {
      return { startup, rss: (await idleRss(child)).rss };
    } finally {
      await stopChildren(child);
    }
  } finally {
    await postgres.stop().catch((e: unknown) => log(`stopping PostgreSQL failed: ${String(e)}`));
  }
}

export async function run(): Promise<BenchResult[]> {
  const tmp = await tempDir('dag-bench-');
  const fresh: Fresh = (label, databaseUrl) =>
    dagConfig(path.join(tmp.path, label, 'data'), databaseUrl);
  try {
    const body = await pushPayload();

    log('plain node:http server: startup');
    const plainStartup = await startupMs(() => startPlain());
    log('DAG embedded: startup on a fresh data folder');
    const freshStartup = await startupMs((i) => startDag(fresh(`startup-${i}`)));
    log('DAG embedded: startup on an existing data folder');
    const existing = fresh('startup-0'); // created by the first fresh start
    const existingStartup = await startupMs(() => startDag(existing));

    log('plain node:http server: idle RSS, then webhooks');
    const plain = await idleThenWebhooks(() => startPlain(), 'unused', body);
    log('DAG embedded: idle RSS (DAG and its database process), then webhooks');
    const config = fresh('service');
    const dag = await idleThenWebhooks(
      () => startDag(config),
      config.webhookSecret,
      body,
      config.dataDir,
    );

    // without PostgreSQL binaries the other metrics still count; the run still fails
    let pg: { startup: number; rss: number } | undefined;
    try {
      pg = await postgresRun(fresh);
    } catch (error) {
      process.exitCode = 1;
      log(`DAG on PostgreSQL failed: ${error instanceof Error ? error.message : String(error)}`);
    }

    return [
      result('webhook.ack_ms', dag.ack, 'ms', plain.ack),
      result('startup.embedded_fresh_ms', freshStartup, 'ms', plainStartup),
      result('startup.embedded_existing_ms', existingStartup, 'ms', plainStartup),
      ...(pg === undefined ? [] : [result('startup.postgres_ms', pg.startup, 'ms', plainStartup)]),
      result('memory.idle_rss_mb', dag.rss, 'MB', plain.rss),
      result('memory.embedded_db_rss_mb', dag.dbRss ?? 0, 'MB', plain.rss),
      ...(pg === undefined ? [] : [result('memory.idle_rss_mb.postgres', pg.rss, 'MB', plain.rss)]),
    ];
  } finally {
    await tmp.dispose();
  }
}
