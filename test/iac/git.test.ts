import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DagError, TransientError } from '../../src/errors.ts';
import {
  classifyGitOutput,
  GitFailure,
  gitError,
  gitFailureOf,
  scrub,
  secretForms,
} from '../../src/iac/git-errors.ts';
import { gitInvocation, runGit } from '../../src/iac/git.ts';
import { checkBranchName, parseRemote } from '../../src/iac/remote.ts';
import { removeTempDirs, tempDir } from './support.ts';

afterAll(removeTempDirs);

const TOKEN = 'ghs_unit0123456789abcdef';

describe('gitInvocation', () => {
  const parent = {
    PATH: '/usr/bin',
    HOME: '/root',
    HTTPS_PROXY: 'http://proxy:3128',
    GIT_DIR: '/elsewhere/.git',
    GIT_CONFIG_PARAMETERS: "'credential.helper'='store'",
    GIT_ASKPASS: '/usr/bin/ksshaskpass',
    AWS_SECRET_ACCESS_KEY: 'nope',
  };

  it('passes the token only as an http.extraHeader environment config', () => {
    const inv = gitInvocation(['fetch', 'origin'], { token: TOKEN }, '/empty', parent);
    expect(inv.file).toBe('git');
    expect(inv.args).toEqual(['fetch', 'origin']);
    expect(inv.env.GIT_CONFIG_KEY_0).toBe('http.extraHeader');
    expect(inv.env.GIT_CONFIG_VALUE_0).toBe(
      `Authorization: Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`,
    );
    expect(Number(inv.env.GIT_CONFIG_COUNT)).toBeGreaterThanOrEqual(1);
    for (const form of secretForms(TOKEN, 'x-access-token')) {
      expect(inv.args.join(' ')).not.toContain(form);
    }
  });

  it('uses the given user name, and sends no header without a token', () => {
    const gitlab = gitInvocation(['fetch'], { token: TOKEN, user: 'oauth2' }, '/empty', parent);
    expect(gitlab.env.GIT_CONFIG_VALUE_0).toContain(
      Buffer.from(`oauth2:${TOKEN}`).toString('base64'),
    );
    const none = gitInvocation(['status'], {}, '/empty', parent);
    expect(Object.values(none.env).join('\n')).not.toMatch(/Authorization/);
  });

  it("adds a forge's own CA setting, which an inherited GIT_SSL_CAINFO can no longer override", () => {
    const config = (inv: ReturnType<typeof gitInvocation>) =>
      Array.from({ length: Number(inv.env.GIT_CONFIG_COUNT) }, (_, i) => [
        inv.env[`GIT_CONFIG_KEY_${i}`],
        inv.env[`GIT_CONFIG_VALUE_${i}`],
      ]);
    const scoped: [string, string] = ['http.https://gitlab.corp/.sslCAInfo', '/etc/dag/ca.pem'];
    const withSystem = { ...parent, GIT_SSL_CAINFO: '/etc/ssl/certs/ca-certificates.crt' };
    const inv = gitInvocation(['fetch'], { config: [scoped] }, '/empty', withSystem);
    expect(inv.env.GIT_SSL_CAINFO).toBeUndefined();
    expect(config(inv).slice(0, 2)).toEqual([
      ['http.sslCAInfo', '/etc/ssl/certs/ca-certificates.crt'],
      scoped,
    ]);
    // Without a forge CA, the inherited variable passes through as it is.
    const plain = gitInvocation(['fetch'], {}, '/empty', withSystem);
    expect(plain.env.GIT_SSL_CAINFO).toBe('/etc/ssl/certs/ca-certificates.crt');
    // DAG's fixed settings come last: a caller cannot turn hooks back on.
    const hooks = gitInvocation(
      ['fetch'],
      { config: [['core.hooksPath', '.githooks']] },
      '/e',
      parent,
    );
    expect(
      config(hooks)
        .filter(([key]) => key === 'core.hooksPath')
        .at(-1),
    ).toEqual(['core.hooksPath', '/dev/null']);
  });

  it('isolates git from system, global and inherited configuration', () => {
    const inv = gitInvocation(
      ['status'],
      { env: { GIT_AUTHOR_NAME: 'dag', GIT_CONFIG_COUNT: '0', GIT_CONFIG_NOSYSTEM: '0' } },
      '/empty',
      parent,
    );
    expect(inv.env).toMatchObject({
      PATH: '/usr/bin',
      HTTPS_PROXY: 'http://proxy:3128',
      HOME: '/empty',
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_ASKPASS: '',
      LC_ALL: 'C',
      GIT_AUTHOR_NAME: 'dag',
    });
    expect(inv.env.GIT_CONFIG_COUNT).not.toBe('0');
    expect(inv.env.GIT_DIR).toBeUndefined();
    expect(inv.env.GIT_CONFIG_PARAMETERS).toBeUndefined();
    expect(inv.env.AWS_SECRET_ACCESS_KEY).toBeUndefined();
  });
});

describe('runGit', () => {
  it('runs git and classifies a local failure without leaking the token', async () => {
    const dir = await tempDir('dag-rungit-');
    const home = await tempDir('dag-rungit-home-');
    const ok = await runGit(['init', '--quiet', dir], { cwd: dir, home, timeoutMs: 10_000 });
    expect(ok.stdout).toBe('');
    const error = await runGit(['rev-parse', '--verify', 'no-such-ref'], {
      cwd: dir,
      home,
      token: TOKEN,
      timeoutMs: 10_000,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DagError);
    expect((error as DagError).kind).toBe('internal');
    expect(gitFailureOf(error)).toBe(GitFailure.other);
    expect(String((error as Error).cause)).not.toContain(TOKEN);
  });

  it('passes input on stdin', async () => {
    const dir = await tempDir('dag-rungit-');
    const home = await tempDir('dag-rungit-home-');
    await runGit(['init', '--quiet'], { cwd: dir, home, timeoutMs: 10_000 });
    const out = await runGit(['hash-object', '--stdin'], {
      cwd: dir,
      home,
      input: 'hello\n',
      timeoutMs: 10_000,
    });
    expect(out.stdout.trim()).toBe('ce013625030ba8dba906f756967f9e9ca394464a');
  });
});

describe('classifyGitOutput', () => {
  const cases: [string, string, GitFailure][] = [
    [
      'clone',
      "fatal: could not read Username for 'https://github.com': terminal prompts disabled",
      'auth',
    ],
    ['fetch', 'remote: HTTP Basic: Access denied\nfatal: Authentication failed for', 'auth'],
    [
      'push',
      "remote: Permission to org/iac.git denied to dag[bot].\nfatal: unable to access 'https://github.com/org/iac.git/': The requested URL returned error: 403",
      'forbidden',
    ],
    ['push', 'remote: You are not allowed to push code to this project.', 'forbidden'],
    ['clone', "fatal: repository 'https://github.com/org/nope.git/' not found", 'not-found'],
    ['clone', 'remote: The project you were looking for could not be found', 'not-found'],
    ['clone', 'fatal: Remote branch zzz not found in upstream origin', 'branch-not-found'],
    ['fetch', "fatal: couldn't find remote ref refs/heads/zzz", 'branch-not-found'],
    ['push', '!\tHEAD:refs/heads/main\t[rejected] (fetch first)', 'remote-moved'],
    ['push', '!\tHEAD:refs/heads/main\t[rejected] (non-fast-forward)', 'remote-moved'],
    ['push', '!\tHEAD:refs/heads/main\t[remote rejected] (failed to update ref)', 'remote-moved'],
    [
      'push',
      "remote: error: cannot lock ref 'refs/heads/main': is at 1234 but expected 5678",
      'remote-moved',
    ],
    [
      'push',
      '!\tHEAD:refs/heads/main\t[remote rejected] (protected branch hook declined)',
      'refused',
    ],
    [
      'push',
      'remote: error: GH006: Protected branch update failed for refs/heads/main.',
      'refused',
    ],
    ['fetch', 'fatal: unable to access: The requested URL returned error: 503', 'unavailable'],
    ['fetch', 'fatal: unable to access: Could not resolve host: git.example.com', 'unreachable'],
    ['fetch', 'fatal: unable to access: Failed to connect to 127.0.0.1 port 1', 'unreachable'],
    ['fetch', 'error: RPC failed; curl 56 Recv failure\nfatal: early EOF', 'unreachable'],
    ['fetch', 'fatal: unable to access: SSL certificate problem: self-signed certificate', 'tls'],
    ['commit', 'fatal: Unable to create index.lock: File exists', 'other'],
    // a local lock problem is not a moved remote outside of push
    ['fetch', "error: cannot lock ref 'refs/remotes/origin/main'", 'other'],
  ];
  it.each(cases)('%s: %s', (command, output, failure) => {
    expect(classifyGitOutput(command, output)).toBe(failure);
  });

  it('maps failures to the error kinds callers act on', () => {
    expect(gitError('auth', 'fetch', 128, '')).toBeInstanceOf(ConfigError);
    expect(gitError('auth', 'fetch', 128, '').message).toBe(
      "the IAC repository rejected DAG's token (check the token and its scopes)",
    );
    expect(gitError('unreachable', 'fetch', 128, 'fatal: Failed to connect')).toBeInstanceOf(
      TransientError,
    );
    expect(gitError('timeout', 'fetch', null, '')).toBeInstanceOf(TransientError);
    expect(gitError('remote-moved', 'push', 1, '')).toBeInstanceOf(TransientError);
    const refused = gitError(
      'refused',
      'push',
      1,
      'remote: error: GH006: Protected branch update failed for refs/heads/main.',
    );
    expect(refused).toBeInstanceOf(ConfigError);
    expect(refused.message).toContain('GH006: Protected branch update failed');
  });
});

describe('scrub', () => {
  it('removes the token, its encodings, Authorization headers and URL credentials', () => {
    const basic = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
    const text = [
      `token ${TOKEN}`,
      `header: Authorization: Basic ${basic}`,
      `base64 alone ${basic}`,
      `url https://x-access-token:${TOKEN}@github.com/org/iac.git`,
      'url https://someone:other-password@example.com/x.git',
    ].join('\n');
    const out = scrub(text, secretForms(TOKEN, 'x-access-token'));
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain(basic);
    expect(out).not.toContain('other-password');
    expect(out).toContain('https://***@example.com/x.git');
  });
});

describe('parseRemote', () => {
  it('strips credentials from the URL and uses them when no token is given', () => {
    expect(parseRemote(`https://x-access-token:${TOKEN}@github.com/org/iac.git`, null)).toEqual({
      url: 'https://github.com/org/iac.git',
      token: TOKEN,
      user: 'x-access-token',
    });
    expect(parseRemote('https://ci-bot:p%40ss@git.example.com/iac.git', null)).toEqual({
      url: 'https://git.example.com/iac.git',
      token: 'p@ss',
      user: 'ci-bot',
    });
    expect(parseRemote(`https://${TOKEN}@github.com/org/iac`, null).token).toBe(TOKEN);
  });

  it("prefers an explicit token and picks the user name by the configured GitLab's host", () => {
    const gitlabHosts = ['git.corp.example'];
    expect(parseRemote('https://old:stale@GIT.corp.example/g/iac.git', TOKEN, gitlabHosts)).toEqual(
      {
        url: 'https://git.corp.example/g/iac.git',
        token: TOKEN,
        user: 'oauth2',
      },
    );
    expect(parseRemote('https://gitlab.com/g/iac.git', TOKEN).user).toBe('oauth2');
    // A host's name proves nothing: this one is not the configured GitLab.
    expect(parseRemote('https://gitlab.example.com/g/iac.git', TOKEN, gitlabHosts).user).toBe(
      'x-access-token',
    );
    expect(parseRemote('https://github.com/org/iac.git', TOKEN).user).toBe('x-access-token');
    expect(parseRemote('https://github.com/org/iac.git', null).token).toBeNull();
  });

  it('refuses URLs that are not http(s)', () => {
    for (const url of [
      'git@github.com:org/iac.git',
      'ssh://git@github.com/org/iac',
      'file:///etc',
      'nope',
    ]) {
      expect(() => parseRemote(url, TOKEN)).toThrow(ConfigError);
    }
  });
});

describe('checkBranchName', () => {
  it.each(['main', 'release/1.2', 'env_prod', 'feature-x'])('accepts %s', (name) => {
    expect(checkBranchName(name)).toBe(name);
  });
  it.each([
    '',
    '-x',
    '--upload-pack=evil',
    'a:b',
    '+main',
    'a..b',
    'a b',
    'x.lock',
    'a/',
    'a//b',
    '@{1}',
  ])('refuses %j', (name) => {
    expect(() => checkBranchName(name)).toThrow(ConfigError);
  });
});
