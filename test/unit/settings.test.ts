import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readSettings } from '../../src/settings.ts';

const pem = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
}).privateKey;
const hexKey = randomBytes(32).toString('hex');

describe('readSettings', () => {
  it('defaults to the embedded database and setup mode', () => {
    const s = readSettings({}, '/srv/dag');
    // One folder for DAG's data, the generated key beside the database (which is in data/).
    expect(s.database).toEqual({ kind: 'embedded', dataDir: '/srv/dag/.dag' });
    expect(s.encryption.keyFile).toBe('/srv/dag/.dag/encryption.key');
    const mounted = readSettings({ DAG_DATA_DIR: '/data' }, '/srv/dag');
    expect(mounted.encryption.keyFile).toBe('/data/encryption.key');
    expect(s.github).toBeUndefined();
    expect(s.gitlab).toBeUndefined();
    expect(s.port).toBe(3000);
    expect(s.cacheDir).toBe('/srv/dag/.dag/cache');
    expect(s.gitAuthor).toEqual({ name: 'DAG', email: 'dag-bot@users.noreply.github.com' });
  });

  it('signs IAC commits with the no-reply address of the forge DAG serves, unless told otherwise', () => {
    const gitlabOnly = { GITLAB_WEBHOOK_SECRET: 'hook-secret' };
    expect(readSettings(gitlabOnly).gitAuthor.email).toBe('dag-bot@users.noreply.gitlab.com');
    expect(
      readSettings({ ...gitlabOnly, GITLAB_URL: 'https://GitLab.Example.internal' }).gitAuthor
        .email,
    ).toBe('dag-bot@users.noreply.gitlab.example.internal');
    expect(
      readSettings({ ...gitlabOnly, DAG_GIT_AUTHOR_EMAIL: 'platform@example.com' }).gitAuthor.email,
    ).toBe('platform@example.com');
  });

  it('leaves /metrics open unless DAG_METRICS_TOKEN is set', () => {
    expect(readSettings({}).metricsToken).toBeUndefined();
    expect(readSettings({ DAG_METRICS_TOKEN: '  ' }).metricsToken).toBeUndefined();
    expect(readSettings({ DAG_METRICS_TOKEN: ' scrape-me \n' }).metricsToken).toBe('scrape-me');
  });

  it('sizes the diff preview pool from DAG_DIFF_THREADS, or leaves it to the CPU count', () => {
    expect(readSettings({}).diffThreads).toBeUndefined();
    expect(readSettings({ DAG_DIFF_THREADS: '3' }).diffThreads).toBe(3);
    expect(() => readSettings({ DAG_DIFF_THREADS: '0' })).toThrow(
      /DAG_DIFF_THREADS must be a whole number from 1 to 64/,
    );
  });

  it('monitors by default, and reads the rollout report interval, deadline and drift grace', () => {
    expect(readSettings({})).toMatchObject({
      monitor: true,
      rolloutReportSeconds: 15,
      rolloutDeadlineMinutes: 30,
      driftGraceMinutes: 10,
    });
    expect(
      readSettings({
        DAG_MONITOR: 'off',
        DAG_ROLLOUT_REPORT_SECONDS: '60',
        DAG_ROLLOUT_DEADLINE_MINUTES: '120',
        DAG_DRIFT_GRACE_MINUTES: '2',
      }),
    ).toMatchObject({
      monitor: false,
      rolloutReportSeconds: 60,
      rolloutDeadlineMinutes: 120,
      driftGraceMinutes: 2,
    });
    expect(() => readSettings({ DAG_ROLLOUT_REPORT_SECONDS: '0' })).toThrow(
      /DAG_ROLLOUT_REPORT_SECONDS must be a whole number from 1 to 3600/,
    );
    expect(() => readSettings({ DAG_DRIFT_GRACE_MINUTES: 'soon' })).toThrow(
      /DAG_DRIFT_GRACE_MINUTES must be a whole number/,
    );
  });

  it('accepts the key as 64 hex characters or as base64', () => {
    const raw = randomBytes(32);
    const fromHex = readSettings({ DAG_ENCRYPTION_KEY: raw.toString('hex') });
    const fromB64 = readSettings({ DAG_ENCRYPTION_KEY: raw.toString('base64') });
    expect(fromHex.encryption.key?.equals(raw)).toBe(true);
    expect(fromB64.encryption.key?.equals(raw)).toBe(true);
  });

  it.each([
    [{ DAG_ENCRYPTION_KEY: 'short' }, /DAG_ENCRYPTION_KEY must be 32 bytes/],
    [{ DATABASE_URL: 'postgres://db/dag' }, /DAG_ENCRYPTION_KEY is required with DATABASE_URL/],
    [{ DATABASE_URL: 'not a url', DAG_ENCRYPTION_KEY: hexKey }, /DATABASE_URL is not a valid URL/],
    [{ APP_ID: '1' }, /PRIVATE_KEY/],
    [{ APP_ID: 'abc', PRIVATE_KEY: pem, WEBHOOK_SECRET: 's' }, /APP_ID must be the numeric ID/],
    [{ APP_ID: '1', PRIVATE_KEY: pem }, /WEBHOOK_SECRET is required/],
    [{ PORT: '70000' }, /PORT must be a whole number/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ DAG_GIT_AUTHOR_EMAIL: 'not an email' }, /DAG_GIT_AUTHOR_EMAIL must be an email/],
  ])('refuses %j', (env, message) => {
    expect(() => readSettings(env)).toThrow(message);
  });

  it('uses the development webhook secret only when NODE_ENV=development', () => {
    const s = readSettings({ APP_ID: '12', PRIVATE_KEY: pem, NODE_ENV: 'development' });
    expect(s.github?.webhookSecret).toBe('development');
  });

  it('reads a PEM given with escaped newlines or base64', () => {
    const escaped = readSettings({
      APP_ID: '12',
      PRIVATE_KEY: pem.replace(/\n/g, '\\n'),
      WEBHOOK_SECRET: 'x',
    });
    const b64 = readSettings({
      APP_ID: '12',
      PRIVATE_KEY: Buffer.from(pem).toString('base64'),
      WEBHOOK_SECRET: 'x',
    });
    expect(escaped.github?.privateKey).toBe(pem);
    expect(b64.github?.privateKey).toBe(pem);
  });

  it('configures GitLab from its webhook secret', () => {
    const s = readSettings({ GITLAB_WEBHOOK_SECRET: 'tok', GITLAB_TOKEN: 'glpat-x' });
    expect(s.gitlab).toEqual({
      webhookSecret: 'tok',
      webhookPath: '/api/gitlab/webhooks',
      url: 'https://gitlab.com',
      token: 'glpat-x',
    });
  });
});
