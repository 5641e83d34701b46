import { describe, expect, it } from 'vitest';
import {
  findSecretRanges,
  findSecretRangesPair,
  isCredentialKey,
  looksLikeCredential,
  MIN_BARE_SECRET_CHARS,
} from '../../src/diff/credential-patterns.ts';
import { random } from './generate-objects.ts';
import { maskDiffText, maskText } from '../../src/diff/mask-text.ts';
import { MASKED, maskObject, maskPair, maskValuesPair } from '../../src/diff/masking.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

const secret = (data: Record<string, string> | undefined, stringData?: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'db', namespace: 'prod' },
  type: 'Opaque',
  ...(data ? { data } : {}),
  ...(stringData ? { stringData } : {}),
});

const deployment = (env: unknown[], args: string[] = []) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'prod' },
  spec: { template: { spec: { containers: [{ name: 'app', image: 'web:1', env, args }] } } },
});

const CREDENTIAL_KEYS: [string, boolean][] = [
  ['password', true],
  ['DB_PASSWORD', true],
  ['dbPassword', true],
  ['passwd', true],
  ['adminPassphrase', true],
  ['secret', true],
  ['JWT_SECRET', true],
  ['clientSecret', true],
  ['client_secret', true],
  ['token', true],
  ['GITHUB_TOKEN', true],
  ['accessToken', true],
  ['apiKey', true],
  ['api_key', true],
  ['x-api-key', true],
  ['API-KEY', true],
  ['aws_access_key_id', true],
  ['AWS_SECRET_ACCESS_KEY', true],
  ['private_key', true],
  ['privateKey', true],
  ['credentials', true],
  ['gcpCredentials', true],
  ['auth', true],
  ['basicAuth', true],
  ['REDIS_AUTH', true],
  ['Authorization', true],
  ['SENTRY_DSN', true],
  ['dsn', true],
  ['connection_string', true],
  ['ConnectionString', true],
  ['db.password', true],
  ['spring.datasource.password', true],
  ['secret_id', true],
  // Names, references and settings about a credential, not the credential.
  ['secretName', false],
  ['existingSecret', false],
  ['existingSecretPasswordKey', false],
  ['passwordFile', false],
  ['tokenPath', false],
  ['tokenUrl', false],
  ['auth-url', false],
  ['passwordSecretRef', false],
  ['passwordLength', false],
  ['tokenTTL', false],
  ['name', false],
  ['image', false],
  ['key', false],
  ['author', false],
  ['authority', false],
  ['tokenizer', false],
  ['', false],
];

describe('isCredentialKey', () => {
  it.each(CREDENTIAL_KEYS)('%j -> %s', (key, expected) => {
    expect(isCredentialKey(key)).toBe(expected);
  });

  it('finds every credential key in text, however its words are cased and separated', () => {
    // Each credential key, spelled as people write keys, as an assignment or env entry in text.
    const spellings = (key: string) => [
      key,
      key.toUpperCase(),
      key.replace(/[_.-]/g, ''),
      key.replace(/([a-z])([A-Z])/g, '$1_$2'),
      key.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase(),
    ];
    const keys = CREDENTIAL_KEYS.filter(([, credential]) => credential).flatMap(([key]) =>
      spellings(key).filter((spelling) => isCredentialKey(spelling)),
    );
    expect(keys.length).toBeGreaterThan(100);
    for (const key of keys) {
      for (const text of [
        `${key}: hunter22`,
        `${key}=hunter22`,
        `  - name: ${key}\n    value: hunter22`,
      ]) {
        expect(maskText(text), text).not.toContain('hunter22');
      }
    }
  });
});

describe('looksLikeCredential', () => {
  const jwt =
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
  it.each([
    ['a JWT', jwt, true],
    ['a JWT inside text', `Authorization header: ${jwt}`, true],
    ['a GitHub classic token', 'ghp_1234567890abcdefghijklmnopqrstuvwxyzAB', true],
    ['a GitHub app token', 'ghs_16C7e42F292c6912E7710c838347Ae178B4a', true],
    ['a fine-grained GitHub token', 'github_pat_11ABCDEFG0123456789_abcdefghijklmnop', true],
    ['a GitLab token', 'glpat-xxxxxxxxxxxxxxxxxxxx', true],
    ['a GitLab deploy token', 'gldt-abcdefghijklmnopqrstu', true],
    ['a Slack token', 'xoxb-123456789012-1234567890123-abcdefghijkl', true],
    ['an AWS access key id', 'AKIAIOSFODNN7EXAMPLE', true],
    ['a PEM private key', '-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----\n', true],
    ['a PEM block without its end', '-----BEGIN RSA PRIVATE KEY-----\nMIIEv', true],
    ['a URL with a password', 'postgres://app:hunter2@db:5432/app', true],
    ['a URL with a long bare token', 'https://x0123456789abcdefghij@github.com/o/r', true],
    ['a bearer header', 'Bearer abcdefghijklmnopqrstuvwxyz', true],
    ['a DAG API token', 'dag_0123456789ABCDEFGHIJabcdefghij0123456789Kabcdef', true],
    ['a DAG API token cut short', 'token dag_0123456789ABCDEFGHIJabcdefghij...', true],
    ['a password line', 'db.user=app\ndb.password=hunter2\n', true],
    ['a JSON password', '{"user": "app", "password": "hunter2"}', true],
    ['a DSN with a password', 'Server=db;Database=app;Password=hunter2;', true],
    ['a query string token', 'https://api.example.com/hook?token=abcdef123', true],
    ['an Azure connection string', 'AccountName=app;AccountKey=bXlrZXk=;EndpointSuffix=x', true],
    ['an Azure SAS URL', 'https://a.blob.core.windows.net/c?sv=2022-11-02&sig=AbC%2Fd', true],
    ['a Go MySQL DSN', 'app:s3cret@tcp(db:3306)/app?parseTime=true', true],
    ['an env entry inside text', 'extraEnv:\n  - name: DB_PASSWORD\n    value: hunter2\n', true],
    ['an env entry as JSON', '[{"name": "API_TOKEN", "value": "abc123def"}]', true],
    ['base64 of a password line', b64('password=hunter2-and-more'), true],
    ['base64 of a registry login', b64('{"auths":{"r.io":{"auth":"dTpw"}}}'), true],
    ['base64 of plain text', b64('just some harmless configuration text'), false],
    ['an env entry that is not a credential', '- name: LOG_LEVEL\n  value: debug\n', false],
    ['a plain URL', 'http://svc.prod.svc.cluster.local:8080/path', false],
    ['a URL with a user only', 'ssh://git@github.com/org/repo.git', false],
    ['an image', 'registry.example.com/team/web:1.2.3@sha256:abcdef0123456789', false],
    ['a git sha', '97da2849d73eb438a907d090402c802d7c570089', false],
    ['a DAG table name', 'SELECT name FROM dag_migrations', false],
    ['a placeholder', 'password=${DB_PASSWORD}', false],
    ['a template', 'password: {{ .Values.password }}', false],
    ['a password setting with no value', 'password:', false],
    ['prose', 'Rotate the password every 90 days.', false],
    ['an empty string', '', false],
  ])('%s', (_label, value, expected) => {
    expect(looksLikeCredential(value)).toBe(expected);
  });
});

describe('texts too short for a bare secret', () => {
  // findSecretRanges skips a text shorter than MIN_BARE_SECRET_CHARS without `:` or `=`: the
  // shortest instance of each pattern that needs neither is at least that long, and found.
  it.each([
    ['a Slack token', 'xoxb-0123456789'],
    ['an AWS access key id', 'AKIA0123456789ABCDEF'],
    ['a GitLab feed token', 'glft-0123456789abcdef'],
    ['an sk- key', 'sk-0123456789abcdefghij'],
    ['a Basic credential', 'Basic QWxhZGRpbjpv'],
    ['a PEM header', '-----BEGIN A-----'],
    ['a base64 password line', b64('password=hunter2xx')],
  ])('%s', (_label, secret) => {
    expect(secret.length).toBeGreaterThanOrEqual(MIN_BARE_SECRET_CHARS);
    expect(findSecretRanges(secret).length).toBeGreaterThan(0);
    expect(findSecretRanges(`x ${secret}`).length).toBeGreaterThan(0);
  });

  it('are passed over, while as short a text with `:` or `=` is scanned', () => {
    expect(MIN_BARE_SECRET_CHARS).toBe(15);
    expect(findSecretRanges('xoxb-012345678')).toEqual([]);
    expect(findSecretRanges('pwd=hunter2')).toEqual([{ start: 4, end: 11 }]);
    expect(findSecretRanges('pwd: hunter2')).toEqual([{ start: 5, end: 12 }]);
  });
});

describe('findSecretRangesPair', () => {
  /** Lines that hold secrets, parts of secrets that span lines, and lines that look alike. */
  const LINES = [
    'app.setting=a1788aa90911',
    'db.password=hunter2',
    'password: "quoted value"',
    'password: "escaped \\" quote"',
    'password: "continued \\',
    '  on the next line"',
    'token=abc&user=x',
    'extraEnv:',
    '  - name: DB_PASSWORD',
    '    value: s3cret-value',
    '- name: LOG_LEVEL',
    '  value: debug',
    '[{"name": "API_TOKEN", "value": "abc123def"}]',
    '-----BEGIN RSA PRIVATE KEY-----',
    'MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt',
    '-----END RSA PRIVATE KEY-----',
    'url: postgres://app:hunter2@db:5432/app',
    'dsn: app:s3cret@tcp(db:3306)/app',
    'auth: Bearer abcdefghijklmnopqrstuvwxyz',
    'ghp_1234567890abcdefghijklmnopqrstuvwxyzAB',
    b64('password=hunter2-and-more'),
    b64('just some harmless configuration text'),
    'windows.line=1\r',
    'pw=x',
    '',
    '   ',
  ];

  it('finds in each side exactly what findSecretRanges finds in it alone', () => {
    const next = random(5);
    const pick = () => LINES[Math.floor(next() * LINES.length)]!;
    let found = 0;
    for (let round = 0; round < 4_000; round++) {
      const a = Array.from({ length: Math.floor(next() * 12) }, pick);
      const b = a.filter(() => next() > 0.2).map((line) => (next() < 0.1 ? pick() : line));
      if (next() < 0.3) b.splice(Math.floor(next() * (b.length + 1)), 0, pick());
      const end = () => (next() < 0.5 ? '\n' : '');
      const [textA, textB] = [`${a.join('\n')}${end()}`, `${b.join('\n')}${end()}`];
      const pair = findSecretRangesPair(textA, textB);
      expect(pair, JSON.stringify([textA, textB])).toEqual([
        findSecretRanges(textA),
        findSecretRanges(textB),
      ]);
      if (pair[0].length > 0 && pair[1].length > 0) found++;
    }
    expect(found).toBeGreaterThan(2_000);
  });
});

describe('maskPair: Secret data and stringData', () => {
  it.each([
    {
      name: 'an unchanged value',
      live: secret({ password: b64('hunter2') }),
      desired: secret({ password: b64('hunter2') }),
      liveData: { password: MASKED.unchanged },
      desiredData: { password: MASKED.unchanged },
    },
    {
      name: 'a changed value',
      live: secret({ password: b64('hunter2') }),
      desired: secret({ password: b64('hunter3') }),
      liveData: { password: MASKED.old },
      desiredData: { password: MASKED.changed },
    },
    {
      name: 'a new and a removed key',
      live: secret({ old: b64('a') }),
      desired: secret({ fresh: b64('b') }),
      liveData: { old: MASKED.removed },
      desiredData: { fresh: MASKED.added },
    },
    {
      name: 'a new Secret',
      live: null,
      desired: secret({ token: b64('t0ken') }),
      liveData: undefined,
      desiredData: { token: MASKED.added },
    },
    {
      name: 'a deleted Secret',
      live: secret({ token: b64('t0ken') }),
      desired: null,
      liveData: { token: MASKED.removed },
      desiredData: undefined,
    },
  ])('$name', ({ live, desired, liveData, desiredData }) => {
    const masked = maskPair(live, desired) as {
      live: { data?: unknown } | null;
      desired: { data?: unknown } | null;
    };
    expect(masked.live?.data).toEqual(liveData);
    expect(masked.desired?.data).toEqual(desiredData);
  });

  it('compares stringData with the live data after decoding', () => {
    const live = secret({ password: b64('hunter2'), user: b64('app') });
    const desired = secret(undefined, { password: 'hunter2', user: 'admin' });
    const masked = maskPair(live, desired) as {
      live: { data: Record<string, string> };
      desired: { stringData: Record<string, string> };
    };
    expect(masked.desired.stringData).toEqual({
      password: MASKED.unchanged,
      user: MASKED.changed,
    });
    expect(masked.live.data).toEqual({ password: MASKED.unchanged, user: MASKED.old });
  });

  it('masks the last-applied-configuration annotation, which repeats the data', () => {
    const annotated = {
      ...secret({ password: b64('hunter2') }),
      metadata: {
        name: 'db',
        annotations: {
          'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(
            secret({ password: b64('hunter2') }),
          ),
          team: 'payments',
        },
      },
    };
    const masked = JSON.stringify(maskPair(annotated, annotated));
    expect(masked).not.toContain(b64('hunter2'));
    expect(masked).toContain('payments');
  });

  it('leaves the live and desired inputs untouched', () => {
    const live = secret({ password: b64('hunter2') });
    const before = structuredClone(live);
    maskPair(live, secret({ password: b64('x') }));
    expect(live).toEqual(before);
  });
});

describe('maskPair: credentials anywhere', () => {
  it.each([
    {
      name: 'an env var named like a password',
      live: deployment([{ name: 'DB_PASSWORD', value: 'hunter2' }]),
      desired: deployment([{ name: 'DB_PASSWORD', value: 'hunter3' }]),
      secrets: ['hunter2', 'hunter3'],
      expected: [MASKED.old, MASKED.changed],
    },
    {
      name: 'an env var holding a URL with a password',
      live: deployment([{ name: 'DATABASE_URL', value: 'postgres://app:s3cr3t@db/app' }]),
      desired: deployment([{ name: 'DATABASE_URL', value: 'postgres://app:s3cr3t@db2/app' }]),
      secrets: ['s3cr3t'],
      expected: [`postgres://${MASKED.unchanged}@db/app`, `postgres://${MASKED.unchanged}@db2/app`],
    },
    {
      name: 'env vars paired by name, not by position',
      live: deployment([
        { name: 'A', value: '1' },
        { name: 'API_TOKEN', value: 'same-token' },
      ]),
      desired: deployment([{ name: 'API_TOKEN', value: 'same-token' }]),
      secrets: ['same-token'],
      expected: [MASKED.unchanged, MASKED.unchanged],
    },
    {
      name: 'a credential flag argument',
      live: deployment([], ['--password', 'hunter2', '--verbose']),
      desired: deployment([], ['--password', 'hunter2', '--verbose']),
      secrets: ['hunter2'],
      expected: [MASKED.unchanged],
    },
    {
      name: 'a credential flag with =',
      live: deployment([], ['--token=abc123def']),
      desired: deployment([], ['--token=abc999def']),
      secrets: ['abc123def', 'abc999def'],
      expected: [`--token=${MASKED.old}`, `--token=${MASKED.changed}`],
    },
  ])('$name', ({ live, desired, secrets, expected }) => {
    const masked = maskPair(live, desired);
    const text = JSON.stringify(masked);
    for (const value of secrets) expect(text).not.toContain(value);
    for (const marker of expected) expect(text).toContain(JSON.stringify(marker).slice(1, -1));
  });

  it('masks ConfigMap data by key name and inside configuration files', () => {
    const configMap = (password: string) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg' },
      data: {
        REDIS_PASSWORD: password,
        'app.properties': `db.user=app\ndb.password=${password}\nthreads=4\n`,
        'config.json': `{"apiKey": "${password}", "region": "eu"}`,
        'app.yaml': `client:\n  secret: ${password}\n  id: web\n`,
        LOG_LEVEL: 'info',
      },
    });
    const masked = maskPair(configMap('p4ss-one'), configMap('p4ss-two')) as {
      live: { data: Record<string, string> };
      desired: { data: Record<string, string> };
    };
    expect(JSON.stringify(masked)).not.toMatch(/p4ss-/);
    expect(masked.desired.data).toEqual({
      REDIS_PASSWORD: MASKED.changed,
      'app.properties': `db.user=app\ndb.password=${MASKED.changed}\nthreads=4\n`,
      'config.json': `{"apiKey": "${MASKED.changed}", "region": "eu"}`,
      'app.yaml': `client:\n  secret: ${MASKED.changed}\n  id: web\n`,
      LOG_LEVEL: 'info',
    });
    expect(masked.live.data['app.properties']).toBe(
      `db.user=app\ndb.password=${MASKED.old}\nthreads=4\n`,
    );
  });

  it('masks HelmRelease values and leaves names, placeholders and switches alone', () => {
    const release = (token: string) => ({
      apiVersion: 'helm.toolkit.fluxcd.io/v2',
      kind: 'HelmRelease',
      metadata: { name: 'app' },
      spec: {
        values: {
          auth: { enabled: true, existingSecret: 'app-auth', password: '${APP_PASSWORD}' },
          github: { token },
          webhook: { url: 'https://hooks.slack.com/services/T000/B000/xxxx' },
          tls: { key: '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n' },
          replicas: 2,
        },
      },
    });
    const masked = maskPair(
      release('ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'),
      release('ghp_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'),
    );
    const values = (masked.desired as { spec: { values: Record<string, unknown> } }).spec.values;
    expect(values).toEqual({
      auth: { enabled: true, existingSecret: 'app-auth', password: '${APP_PASSWORD}' },
      github: { token: MASKED.changed },
      webhook: { url: 'https://hooks.slack.com/services/T000/B000/xxxx' },
      tls: { key: `${MASKED.unchanged}\n` },
      replicas: 2,
    });
  });

  it('masks every value of a group of credentials, but not names and settings', () => {
    const values = {
      apiKeys: { stripe: 'key-stripe-123', mailgun: 'key-mailgun-456' },
      imagePullSecrets: [{ name: 'regcred' }],
      secrets: { optional: true, secretName: 'web', items: [{ path: 'a', value: 'v4lue' }] },
      auth: { enabled: true, username: 'admin' },
      privateKey: { algorithm: 'ECDSA', size: 256 },
      extraEnv: [{ key: 'SESSION_SECRET', value: 's3ss10n' }],
      // Crossplane's ProviderConfig: where the credentials are, not what.
      credentials: { source: 'Secret', secretRef: { namespace: 'x', name: 'aws', key: 'creds' } },
    };
    expect(maskObject(values)).toEqual({
      apiKeys: { stripe: MASKED.unchanged, mailgun: MASKED.unchanged },
      imagePullSecrets: [{ name: 'regcred' }],
      secrets: {
        optional: true,
        secretName: 'web',
        items: [{ path: 'a', value: MASKED.unchanged }],
      },
      auth: { enabled: true, username: 'admin' },
      privateKey: { algorithm: 'ECDSA', size: 256 },
      extraEnv: [{ key: 'SESSION_SECRET', value: MASKED.unchanged }],
      credentials: { source: 'Secret', secretRef: { namespace: 'x', name: 'aws', key: 'creds' } },
    });
  });

  it('masks a values map on its own (maskValuesPair) and one object (maskObject)', () => {
    const masked = maskValuesPair(
      { db: { password: 'a', port: 5432 } },
      { db: { password: 'a', port: 5433 } },
    );
    expect(masked).toEqual({
      live: { db: { password: MASKED.unchanged, port: 5432 } },
      desired: { db: { password: MASKED.unchanged, port: 5433 } },
    });
    expect(maskObject({ kind: 'ConfigMap', data: { apiKey: 'k' } })).toEqual({
      kind: 'ConfigMap',
      data: { apiKey: MASKED.unchanged },
    });
  });

  it('keeps a __proto__ key a plain key', () => {
    const hostile = JSON.parse(
      '{"kind":"ConfigMap","data":{"__proto__":{"password":"x"}}}',
    ) as unknown;
    const masked = maskObject(hostile) as { data: Record<string, unknown> };
    expect(Object.getPrototypeOf(masked.data)).toBe(Object.prototype);
    expect(Object.hasOwn(masked.data, '__proto__')).toBe(true);
    expect(JSON.stringify(masked)).not.toContain('"x"');
  });

  it('masks a pathologically deep subtree whole instead of overflowing the stack', () => {
    let deep: unknown = { password: 'hunter2' };
    for (let i = 0; i < 5_000; i++) deep = { nested: deep };
    const text = JSON.stringify(maskObject({ kind: 'ConfigMap', data: deep }));
    expect(text).not.toContain('hunter2');
  });
});

describe('maskText and maskDiffText', () => {
  it.each([
    ['password: hunter2', 'password: ***'],
    ['export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789', 'export GITHUB_TOKEN=***'],
    ['token ghp_abcdefghijklmnopqrstuvwxyz0123456789 rejected', 'token *** rejected'],
    ['dial postgres://u:pw@db:5432 failed', 'dial postgres://***@db:5432 failed'],
    ['password: "*** (value changed)"', 'password: "*** (value changed)"'],
    ['nothing to see', 'nothing to see'],
  ])('%j', (input, expected) => {
    expect(maskText(input)).toBe(expected);
  });

  it('masks a PEM block split over diff lines, per side, keeping every line', () => {
    const diff = [
      '--- a/values.yaml',
      '+++ b/values.yaml',
      '@@ -1,6 +1,6 @@',
      ' tls:',
      '   key: |',
      '-    -----BEGIN PRIVATE KEY-----',
      '-    MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ',
      '-    -----END PRIVATE KEY-----',
      '+    -----BEGIN PRIVATE KEY-----',
      '+    MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQ',
      '+    -----END PRIVATE KEY-----',
      ' replicas: 2',
      '+    Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9v',
      '-  password: hunter2',
      '+  password: hunter3',
    ].join('\n');
    const masked = maskDiffText(diff);
    expect(masked.split('\n')).toHaveLength(diff.split('\n').length);
    expect(masked).not.toMatch(/MIIEv|hunter|Zm9v/);
    expect(masked).toContain(' replicas: 2');
    expect(masked).toContain('-  password: ***');
    expect(masked).toContain('+    ***');
  });
});

describe('hostile input', () => {
  const spaces = ' '.repeat(200_000);
  it.each([
    ['a long run of spaces after a password key', `password: x${spaces}y`],
    ['spaces and commas', `password: a${' ,'.repeat(100_000)}b`],
    ['many password keys on one line', 'password: '.repeat(50_000)],
    ['many assignments', 'password=a '.repeat(50_000)],
    ['a long run of newlines inside a value', `password: a${'\n'.repeat(200_000)}b`],
    ['URL-like noise', `http://${'a:'.repeat(100_000)}`],
    ['PEM headers without ends', '-----BEGIN X-----'.repeat(20_000)],
    ['a long upper-case key', `${'A'.repeat(100_000)}=x`],
    ['an unterminated quote', `"password": "${'x'.repeat(200_000)}`],
  ])('%s is masked, and ends', (_label, text) => {
    // A pattern that backtracks on this input would not end within the test's timeout; the
    // time they take is not asserted: speed belongs in benchmarks.
    const masked = [
      maskText(text),
      maskDiffText(`+${text}`),
      JSON.stringify(
        maskObject({ kind: 'ConfigMap', data: { file: text, [text.slice(0, 300)]: text } }),
      ),
    ];
    // Where the input holds a password key, what follows it is masked, not passed through.
    if (/password[:=]/.test(text))
      for (const out of masked.slice(0, 2)) expect(out).toContain('***');
  });
});
