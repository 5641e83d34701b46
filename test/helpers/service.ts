import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger, SecretMasker } from '../../src/log.ts';
import { startService, type Service } from '../../src/service.ts';
import { readSettings } from '../../src/settings.ts';

export const testPrivateKey = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
}).privateKey;

export type TestService = Service & {
  logs: string[];
  secrets: { github: string; gitlab: string; encryptionKey: string };
};

/** DAG as `npm start` runs it (embedded in-memory database unless env says otherwise). */
export async function startTestService(env: Record<string, string> = {}): Promise<TestService> {
  const secrets = {
    github: `gh-secret-${randomBytes(8).toString('hex')}`,
    gitlab: `gl-secret-${randomBytes(8).toString('hex')}`,
    encryptionKey: randomBytes(32).toString('hex'),
  };
  const settings = readSettings({
    PORT: '0',
    HOST: '127.0.0.1',
    DAG_DATA_DIR: 'memory://',
    DAG_ENCRYPTION_KEY: secrets.encryptionKey,
    APP_ID: '4242',
    PRIVATE_KEY: testPrivateKey,
    WEBHOOK_SECRET: secrets.github,
    GITLAB_WEBHOOK_SECRET: secrets.gitlab,
    DAG_WORKER_POLL_SECONDS: '0.5',
    LOG_LEVEL: 'debug',
    // Cluster monitoring watches every cluster row: tests of it turn it on (test/monitor/).
    DAG_MONITOR: 'off',
    ...env,
  });
  const logs: string[] = [];
  const masker = new SecretMasker();
  const log = createLogger({
    level: 'debug',
    masker,
    destination: new Writable({
      write(chunk, _enc, done) {
        logs.push(String(chunk));
        done();
      },
    }),
  });
  const service = await startService(settings, { log, masker, githubThrottle: false });
  return Object.assign(service, { logs, secrets });
}
