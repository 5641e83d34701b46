// Renders every kind of output for fixtures full of secrets and scans it all for the secret
// values (and their base64 forms): none may get through masking, at any size level.

import { describe, expect, it } from 'vitest';
import type { DiffCommentModel } from '../../src/diff/comment.ts';
import { renderDiffComment } from '../../src/diff/comment.ts';
import { objectChange } from '../../src/diff/object-change.ts';
import { checkRunSet, type CheckRunSet } from '../../src/diff/check-runs.ts';
import { renderDiffComments } from '../../src/diff/split.ts';
import { unifiedDiff } from '../../src/diff/unified.ts';
import { generatedSecrets, generatePairs } from './generate-objects.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

const SECRETS = {
  dbPassword: 'Sup3r-S3cret!pw',
  dbPasswordNew: 'N3w-Sup3r-S3cret!pw',
  apiToken: 'tok_live_4f9a8b7c6d5e',
  githubToken: 'ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789',
  gitlabToken: 'glpat-Zz9Yy8Xx7Ww6Vv5Uu4Tt',
  slackToken: 'xoxb-111122223333-444455556666-AbCdEfGhIjKl',
  awsKeyId: 'AKIAIOSFODNN7EXAMPLE',
  awsSecret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkYWcifQ.c2lnbmF0dXJlLXZhbHVl',
  pemBody: 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7',
  urlPassword: 'pa55w0rd-in-url',
  sentryKey: 'abc123def456abc123def456',
  redisAuth: 'r3d1s-auth-value',
  helmAdmin: 'helm-admin-Pa55',
  cookieSecret: 'c00kie-s3cret-value',
  stringDataValue: 'string-data-pl41n',
  errorToken: 'ghp_ErrOrToKeNerrortokenERRORtoken0123',
};

const pem = `-----BEGIN PRIVATE KEY-----\n${SECRETS.pemBody}\nAAAAB3NzaC1yc2EAAAADAQABAAABAQ\n-----END PRIVATE KEY-----\n`;

const secretObject = (password: string, extra: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: {
    name: 'app-secrets',
    namespace: 'prod',
    annotations: {
      'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({
        data: { password: b64(password) },
      }),
    },
  },
  type: 'Opaque',
  data: {
    password: b64(password),
    'aws-secret': b64(SECRETS.awsSecret),
    'tls.key': b64(pem),
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, b64(v)])),
  },
});

const deployment = (password: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'prod' },
  spec: {
    template: {
      spec: {
        containers: [
          {
            name: 'web',
            image: 'web:2',
            args: ['--api-token', SECRETS.apiToken, `--slack=${SECRETS.slackToken}`],
            env: [
              { name: 'DB_PASSWORD', value: password },
              {
                name: 'DATABASE_URL',
                value: `postgresql://app:${SECRETS.urlPassword}@db:5432/app`,
              },
              { name: 'AWS_ACCESS_KEY_ID', value: SECRETS.awsKeyId },
              { name: 'AWS_SECRET_ACCESS_KEY', value: SECRETS.awsSecret },
              { name: 'SENTRY_DSN', value: `https://${SECRETS.sentryKey}@o1.ingest.sentry.io/1` },
              { name: 'OAUTH_BEARER', value: `Bearer ${SECRETS.jwt}` },
              { name: 'LOG_LEVEL', value: 'info' },
            ],
          },
        ],
      },
    },
  },
});

const configMap = (password: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'web-config', namespace: 'prod' },
  data: {
    REDIS_AUTH: SECRETS.redisAuth,
    'application.properties': `spring.datasource.password=${password}\nserver.port=8080\n`,
    'gitlab.json': JSON.stringify({
      url: 'https://gitlab.example.com',
      token: SECRETS.gitlabToken,
    }),
    'oauth2-proxy.cfg': `cookie_secret = "${SECRETS.cookieSecret}"\nupstreams = ["http://web:8080"]\n`,
    'ca.crt': pem,
  },
});

const helmRelease = (token: string) => ({
  apiVersion: 'helm.toolkit.fluxcd.io/v2',
  kind: 'HelmRelease',
  metadata: { name: 'web', namespace: 'prod' },
  spec: {
    values: {
      adminPassword: SECRETS.helmAdmin,
      github: { token },
      extraEnv: [{ name: 'JWT', value: SECRETS.jwt }],
      ingress: { enabled: true, host: 'web.example.com' },
    },
  },
});

const valuesFile = (password: string) =>
  [
    'image: web:2',
    'database:',
    `  password: "${password}"`,
    `  url: postgres://app:${SECRETS.urlPassword}@db/app`,
    'github:',
    `  token: ${SECRETS.githubToken}`,
    'tls:',
    '  key: |',
    ...pem
      .trimEnd()
      .split('\n')
      .map((line) => `    ${line}`),
    '',
  ].join('\n');

function fixtureModel(): DiffCommentModel {
  const objects = [
    objectChange({
      live: secretObject(SECRETS.dbPassword),
      desired: secretObject(SECRETS.dbPasswordNew),
    }),
    objectChange({
      live: null,
      desired: {
        ...secretObject(SECRETS.dbPassword),
        stringData: { extra: SECRETS.stringDataValue },
      },
    }),
    objectChange({ live: secretObject(SECRETS.dbPassword), desired: null }),
    objectChange({
      live: deployment(SECRETS.dbPassword),
      desired: deployment(SECRETS.dbPasswordNew),
    }),
    objectChange({
      live: configMap(SECRETS.dbPassword),
      desired: configMap(SECRETS.dbPasswordNew),
    }),
    objectChange({
      live: helmRelease(SECRETS.githubToken),
      desired: helmRelease(SECRETS.gitlabToken),
    }),
    objectChange({
      live: null,
      desired: deployment(SECRETS.dbPasswordNew),
      error: `admission webhook denied: token ${SECRETS.errorToken} is not allowed; password=${SECRETS.dbPassword}`,
    }),
  ];
  return {
    pr: 9,
    headSha: 'c'.repeat(40),
    environments: [
      {
        environment: 'production',
        iacFiles: [
          {
            path: 'clusters/production/web/values.yaml',
            change: 'changed',
            diff: unifiedDiff(valuesFile(SECRETS.dbPassword), valuesFile(SECRETS.dbPasswordNew), {
              path: 'clusters/production/web/values.yaml',
            }).text,
          },
          {
            path: 'clusters/production/web/secret.env',
            change: 'created',
            diff: unifiedDiff('', `API_KEY=${SECRETS.apiToken}\nAWS_KEY=${SECRETS.awsKeyId}\n`, {
              path: 'clusters/production/web/secret.env',
            }).text,
          },
        ],
        objects,
        validation: {
          result: 'failed',
          reason: `dial tcp: postgres://app:${SECRETS.urlPassword}@db refused`,
        },
        notes: [`ignored ${SECRETS.githubToken} in the values`],
      },
    ],
  };
}

function leaks(outputs: string[], secrets: string[]): string[] {
  const forms = secrets.flatMap((secret) => [
    secret,
    b64(secret),
    JSON.stringify(secret).slice(1, -1),
  ]);
  return forms.filter((form) => outputs.some((output) => output.includes(form)));
}

const SHAPES = /pw-\d+-(?:next-)?Zq8#vLr2|dbpass\d+XyZ/;
const SHAPES_GLOBAL = new RegExp(SHAPES.source, 'g');

/** Every title, summary and text of the check runs. */
function checkRunTexts(set: CheckRunSet): string[] {
  return [
    set.main.title,
    set.main.text,
    ...set.parts.flatMap((part) => [part.title, part.summary, part.text]),
  ];
}

describe('no secret reaches a comment or the check runs', () => {
  const secrets = Object.values(SECRETS);

  it('in the fixtures: Secret data, env vars, config files, Helm values, IAC diffs, errors', () => {
    const model = fixtureModel();
    const outputs = [renderDiffComment(model)];
    for (const maxChars of [60_000, 8_000, 3_000, 1_500]) {
      outputs.push(...renderDiffComments(model, { maxChars }).bodies);
      outputs.push(...renderDiffComments(model, { maxChars, maxParts: 1 }).bodies);
    }
    outputs.push(...checkRunTexts(checkRunSet(model)));
    expect(leaks(outputs, secrets)).toEqual([]);
    // The masking left markers saying what changed.
    const body = outputs[0] ?? '';
    expect(body).toContain('*** (value changed)');
    expect(body).toContain('*** (value unchanged)');
    expect(body).toContain('*** (new value)');
    expect(body).toContain('*** (value removed)');
    expect(body).toContain('+  password: "***"');
  });

  it('in 2,000 generated objects, at every size level', () => {
    const objects = generatePairs(2_000).map((pair) => objectChange(pair));
    const model: DiffCommentModel = {
      pr: 1,
      headSha: 'd'.repeat(40),
      environments: [
        {
          environment: 'a',
          iacFiles: [],
          objects: objects.slice(0, 1_000),
          validation: { result: 'passed' },
          notes: [],
        },
        {
          environment: 'b',
          iacFiles: [],
          objects: objects.slice(1_000),
          validation: { result: 'passed' },
          notes: [],
        },
      ],
    };
    const outputs = [
      renderDiffComment(model),
      ...renderDiffComments(model).bodies,
      ...renderDiffComments(model, { maxParts: 1 }).bodies,
      ...checkRunTexts(checkRunSet(model)),
    ];
    // Every generated secret has one of these shapes (see generatedSecrets): one scan finds any.
    expect(generatedSecrets(1_234).every((secret) => SHAPES.test(secret))).toBe(true);
    const found = outputs.flatMap((output) => output.match(SHAPES_GLOBAL) ?? []);
    expect(found).toEqual([]);
  });
});
