// The Dockerfile and docker-compose.yml, checked without a Docker engine: what can be known from
// the files, the repository and running the image's own health check command against DAG's
// HTTP server.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { createHttpServer } from '../../src/server/http.ts';
import { quiet } from '../helpers/quiet-log.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

type Instruction = { name: string; args: string };

/** Dockerfile instructions: continuation lines joined, comment lines dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    current += line.replace(/\\\s*$/, ' ');
    if (/\\\s*$/.test(line)) continue;
    const match = /^\s*(\w+)\s+(.*)$/.exec(current);
    if (match) out.push({ name: match[1]!.toUpperCase(), args: match[2]!.trim() });
    current = '';
  }
  return out;
}

const dockerfile = instructions(read('Dockerfile'));
const all = (name: string) => dockerfile.filter((i) => i.name === name).map((i) => i.args);
function one(name: string): string {
  const found = all(name);
  expect(found, `one ${name}`).toHaveLength(1);
  return found[0]!;
}
/** An exec-form (JSON array) argument, as in `CMD ["node", "src/main.ts"]`. */
const execForm = (args: string) => JSON.parse(args) as string[];
const runs = all('RUN').join('\n');
const env = Object.fromEntries(
  all('ENV').flatMap((args) =>
    args.split(/\s+/).map((pair) => pair.split('=') as [string, string]),
  ),
);

type ComposeService = {
  init?: boolean;
  environment: Record<string, string | number>;
  ports: string[];
  volumes: string[];
};
const compose = parseYaml(read('docker-compose.yml')) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const dag = compose.services.dag!;

describe('Dockerfile', () => {
  it('builds on Node 24, and `npm ci --omit=dev` brings no other node', () => {
    expect(one('FROM')).toMatch(/^node:24(\.\d+)*(-[\w.-]+)?$/);
    expect(runs).toMatch(/npm ci --omit=dev\b/);
    // The `node` devDependency (Node 24 for npm scripts on older systems) stays out of the image.
    const lock = JSON.parse(read('package-lock.json')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    expect(lock.packages['node_modules/node']?.dev).toBe(true);
  });

  it('starts what `npm start` starts, under an init that reaps zombies and forwards SIGTERM', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: { start: string } };
    expect(execForm(one('CMD'))).toEqual(pkg.scripts.start.split(' '));
    expect(execForm(one('ENTRYPOINT'))).toEqual(['/usr/bin/tini', '--']);
    expect(runs).toMatch(/apt-get install [^\n]*\btini\b/);
    // Everything COPY takes is in the repository and not ignored by .dockerignore.
    const ignored = read('.dockerignore').split('\n').filter(Boolean);
    for (const args of all('COPY')) {
      for (const source of args.split(/\s+/).slice(0, -1)) {
        expect(existsSync(path.join(root, source)), source).toBe(true);
        expect(ignored, source).not.toContain(source.replace(/\/$/, ''));
      }
    }
    expect(all('COPY')).toContain('src/ ./src/');
  });

  it('runs as a numeric non-root user, the one the Kubernetes manifests run as', () => {
    const match = /^(\d+):(\d+)$/.exec(one('USER'));
    expect(match, 'numeric USER uid:gid, so runAsNonRoot can check it').not.toBeNull();
    const [uid, gid] = [Number(match![1]), Number(match![2])];
    expect(uid).not.toBe(0);
    const deployment = parseYaml(read('deploy/kubernetes/base/deployment.yaml')) as {
      spec: { template: { spec: { securityContext: Record<string, unknown> } } };
    };
    expect(deployment.spec.template.spec.securityContext).toMatchObject({
      runAsUser: uid,
      runAsGroup: gid,
    });
    // The base image's `node` user is uid/gid 1000: the writable paths below belong to it.
    expect(`${uid}:${gid}`).toBe('1000:1000');
  });

  it("lets the app user write its state and Probot's .env, and leaves the code read-only", async () => {
    const workdir = one('WORKDIR');
    expect(workdir).toBe('/app');
    expect(runs).toMatch(/mkdir -p \/app\/\.dag\/data \/app\/\.dag\/cache/);
    expect(runs).toMatch(/chown -R node:node \/app\/\.dag(\s|$)/);
    expect(runs).toMatch(/touch \/app\/\.env\b/);
    expect(runs).toMatch(/chown node:node \/app\/\.env\b/);
    expect(runs).toMatch(/chmod 0600 \/app\/\.env\b/);
    expect(runs).not.toMatch(/chown( -R)? \S+ \/app(\/)?(\s|$)/);
    // A developer's own .env never goes into the build context.
    expect(read('.dockerignore').split('\n')).toContain('.env');

    // That file is where Probot's setup writes: .env in the working directory.
    const entry = import.meta.resolve('probot');
    const { updateEnv } = (await import(new URL('./helpers/update-env.js', entry).href)) as {
      updateEnv: (values: Record<string, string>) => void;
    };
    const dir = await mkdtemp(path.join(tmpdir(), 'dag-probot-env-'));
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      updateEnv({ DAG_TEST_SETUP_MARKER: 'written' });
      expect(await readFile(path.join(dir, '.env'), 'utf8')).toBe('DAG_TEST_SETUP_MARKER=written');
    } finally {
      process.chdir(cwd);
      delete process.env.DAG_TEST_SETUP_MARKER;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("health-checks DAG's /healthz on PORT", async () => {
    const healthcheck = one('HEALTHCHECK');
    const cmd = /^(?:--\S+\s+)*CMD\s+(\[.*\])$/.exec(healthcheck);
    expect(cmd, 'exec-form HEALTHCHECK CMD').not.toBeNull();
    const [program, flag, script] = execForm(cmd![1]!);
    expect([program, flag]).toEqual(['node', '-e']);
    const check = async (port: string) => {
      try {
        await run(process.execPath, ['-e', script!], {
          env: { PATH: process.env.PATH, PORT: port },
          timeout: 10_000,
        });
        return 0;
      } catch (error) {
        return (error as { code?: number }).code;
      }
    };

    const server = createHttpServer({
      handlers: [],
      log: quiet,
      readiness: async () => ({ ready: false, checks: {} }),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      expect(await check(String(port))).toBe(0);
      expect(await check(` ${port} `)).toBe(0); // trimmed, as DAG's settings trim it
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    // Nothing on the port: unhealthy.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const freePort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await check(String(freePort))).toBe(1);
  });

  it('exposes the port it sets as PORT, which compose and the Kubernetes manifests use', () => {
    expect(env.PORT).toBe('3000');
    expect(one('EXPOSE')).toBe(env.PORT);
    expect(String(dag.environment.PORT)).toBe(env.PORT);
    expect(dag.ports.map((p) => p.split(':').pop())).toEqual([env.PORT]);
    const deployment = read('deploy/kubernetes/base/deployment.yaml');
    expect(deployment).toContain(`containerPort: ${env.PORT}\n`);
  });
});

describe('docker-compose.yml', () => {
  it("keeps DAG's state on a volume at the directory the image gives the app user", () => {
    const mount = dag.volumes.find((v) => v.endsWith(':/app/.dag'));
    expect(mount).toBeDefined();
    expect(Object.keys(compose.volumes)).toContain(mount!.split(':')[0]);
  });

  it('adds no second init in front of the one the image has', () => {
    expect(dag.init).toBeUndefined();
  });
});
