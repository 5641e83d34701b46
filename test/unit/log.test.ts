import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, maskLogLine, SecretMasker } from '../../src/log.ts';

function capture(masker = new SecretMasker()) {
  const lines: string[] = [];
  const log = createLogger({
    masker,
    destination: new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  });
  return { log, lines, masker };
}

describe('logger', () => {
  it('redacts secret-named fields wherever they are', () => {
    const { log, lines } = capture();
    log.info(
      {
        token: 'tok-1',
        iac: { access_token: 'tok-2' },
        req: { headers: { authorization: 'Bearer tok-3', 'x-gitlab-token': 'tok-4' } },
      },
      'hello',
    );
    const out = lines.join('');
    for (const t of ['tok-1', 'tok-2', 'tok-3', 'tok-4']) expect(out).not.toContain(t);
    expect(out).toContain('***');
  });

  it('masks registered secret values in messages, errors and any field', () => {
    const { log, lines, masker } = capture();
    masker.add('glpat-abcdef123456');
    masker.add('line1"quoted"\nline2');
    log.error(
      { err: new Error('push to https://oauth2:glpat-abcdef123456@gitlab.com failed') },
      'x',
    );
    log.warn({ detail: 'line1"quoted"\nline2' }, 'value glpat-abcdef123456 leaked');
    const out = lines.join('');
    expect(out).not.toContain('glpat-abcdef123456');
    expect(out).not.toContain('line1\\"quoted\\"\\nline2');
    expect(out.match(/\*\*\*/g)?.length).toBeGreaterThanOrEqual(3);
  });

  it('never logs a webhook payload or the body of a request DAG sent', () => {
    const { log, lines } = capture();
    // What @octokit/webhooks throws (and Probot logs) when a signature does not match.
    const mismatch = Object.assign(new Error('signature does not match event payload and secret'), {
      status: 400,
      event: { id: 'd-1', name: 'push', payload: '{"pusher":"PAYLOAD-TEXT"}', signature: 'x' },
    });
    log.error(Object.assign(new AggregateError([mismatch], mismatch.message), { event: mismatch }));
    // An Octokit RequestError carries the request, body included.
    const refused = Object.assign(new Error('Validation Failed'), {
      status: 422,
      request: { method: 'POST', url: 'https://api.github.com/x', body: { body: 'COMMENT-TEXT' } },
    });
    log.warn({ err: refused }, 'comment refused');
    log.warn({ err: new Error('wrapped', { cause: refused }) }, 'comment refused, wrapped');
    log.info({ payload: { pusher: 'PAYLOAD-TEXT' } }, 'a payload by name');
    const out = lines.join('');
    expect(lines).toHaveLength(4);
    expect(out).not.toContain('PAYLOAD-TEXT');
    expect(out).not.toContain('COMMENT-TEXT');
    expect(out).toContain('signature does not match');
    expect(out).toContain('Validation Failed');
  });

  it('masks every line by structure, and logs the size of content, never the content', () => {
    const { log, lines } = capture();
    log.debug({ never: 'shown at info' }, 'debug');
    log.info(
      {
        env: [{ name: 'DB_PASSWORD', value: 'pl4nted-env-value' }],
        values: { database: { dbPassword: 'pl4nted-values-password' } },
        request: { method: 'PATCH', body: { body: 'COMMENT-TEXT', title: 'PR-TITLE' } },
        bodies: ['PART-ONE', 'PART-TWO'],
      },
      'dial postgres://app:pl4nted-url-password@db:5432 failed',
    );
    const out = lines.join('');
    expect(lines).toHaveLength(1);
    for (const leak of ['pl4nted', 'COMMENT-TEXT', 'PR-TITLE', 'PART-']) {
      expect(out).not.toContain(leak);
    }
    const line = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    expect(line.env).toEqual([{ name: 'DB_PASSWORD', value: '***' }]);
    expect(line.bodies).toBe('*** (23 characters)'); // ["PART-ONE","PART-TWO"]
    expect(line.msg).toBe('dial postgres://***@db:5432 failed');
  });

  it('falls back to the line masker for a line that is not JSON', () => {
    expect(maskLogLine('token ghp_abcdefghijklmnopqrstuvwxyz0123456789 refused\n')).toBe(
      'token *** refused\n',
    );
  });

  it('ignores values too short to be secrets', () => {
    const masker = new SecretMasker();
    masker.add('ab');
    expect(masker.mask('about')).toBe('about');
  });
});
