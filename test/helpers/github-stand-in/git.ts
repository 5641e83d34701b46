// The GitHub stand-in's view of its real repositories: what GitHub's API reads out of git
// (refs, blobs and trees by path, compares) and a quick way for tests to make commits, all run
// against the bare repositories the stand-in's git server serves. Blobs are read through one
// long-lived `git cat-file --batch` per repository, so an API read costs no process start.

import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { tmpdir } from 'node:os';

export type GitObject = { oid: string; type: string; size: number; content: Buffer };
export type TreeEntry = { mode: string; type: string; oid: string; size?: number; path: string };
export type CommitInfo = {
  sha: string;
  parents: string[];
  author: { name: string; email: string; date: string };
  committer: { name: string; email: string; date: string };
  message: string;
};
export type FileChange = {
  filename: string;
  status: 'added' | 'removed' | 'modified' | 'renamed' | 'copied' | 'changed';
  additions: number;
  deletions: number;
  previous_filename?: string;
};

const SHA = /^[0-9a-f]{40}$/;
/** A ref or path that could break cat-file's line protocol or git's option parsing. */
const UNSAFE = /[\0\n\r]|^-/;

function gitEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: tmpdir(),
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    ...extra,
  };
}

export class GitCommandError extends Error {
  readonly stderr: string;
  constructor(args: readonly string[], stderr: string) {
    super(`git ${args.join(' ')} failed: ${stderr.trim()}`);
    this.stderr = stderr;
  }
}

/** `git cat-file --batch`: requests answered in order, one process for the repository's life. */
class BatchReader {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting: { resolve(o: GitObject | undefined): void; reject(e: Error): void }[] = [];
  #buffer: Buffer = Buffer.alloc(0);
  #closed = false;

  constructor(dir: string) {
    this.#child = spawn('git', ['cat-file', '--batch'], { cwd: dir, env: gitEnv() });
    this.#child.stdout.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#drain();
    });
    this.#child.stderr.resume();
    this.#child.stdin.on('error', () => {});
    this.#child.on('close', () => {
      this.#closed = true;
      for (const w of this.#waiting.splice(0)) w.reject(new Error('git cat-file exited'));
    });
  }

  read(name: string): Promise<GitObject | undefined> {
    if (this.#closed) return Promise.reject(new Error('git cat-file has exited'));
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#child.stdin.write(`${name}\n`);
    });
  }

  #drain(): void {
    for (;;) {
      const waiter = this.#waiting[0];
      if (!waiter) return;
      const eol = this.#buffer.indexOf(0x0a);
      if (eol < 0) return;
      const header = this.#buffer.subarray(0, eol).toString('utf8');
      const parts = header.split(' ');
      if (parts.at(-1) === 'missing' || parts.at(-1) === 'ambiguous') {
        this.#buffer = this.#buffer.subarray(eol + 1);
        this.#waiting.shift();
        waiter.resolve(undefined);
        continue;
      }
      const [oid = '', type = '', sizeText = ''] = parts;
      const size = Number(sizeText);
      if (this.#buffer.length < eol + 1 + size + 1) return;
      const content = Buffer.from(this.#buffer.subarray(eol + 1, eol + 1 + size));
      this.#buffer = this.#buffer.subarray(eol + 1 + size + 1);
      this.#waiting.shift();
      waiter.resolve({ oid, type, size, content });
    }
  }

  close(): void {
    this.#child.stdin.end();
  }
}

/** One bare repository, read like GitHub's API reads it. */
export class RepoGit {
  readonly dir: string;
  #batch: BatchReader | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  run(
    args: readonly string[],
    options: { input?: string | Buffer; env?: Record<string, string> } = {},
  ) {
    return new Promise<Buffer>((resolve, reject) => {
      const child = execFile(
        'git',
        args,
        {
          cwd: this.dir,
          env: gitEnv(options.env),
          encoding: 'buffer',
          maxBuffer: 256 * 1024 * 1024,
        },
        (error, stdout, stderr) => {
          if (error) reject(new GitCommandError(args, stderr.toString('utf8') || error.message));
          else resolve(stdout);
        },
      );
      child.stdin?.on('error', () => {});
      child.stdin?.end(options.input ?? '');
    });
  }

  async text(args: readonly string[]): Promise<string> {
    return (await this.run(args)).toString('utf8').trim();
  }

  /** An object by any name cat-file understands (`<sha>:<path>`, `<sha>^{commit}`). */
  object(name: string): Promise<GitObject | undefined> {
    if (UNSAFE.test(name)) return Promise.resolve(undefined);
    this.#batch ??= new BatchReader(this.dir);
    return this.#batch.read(name);
  }

  /** The commit a branch, tag or commit id names now; undefined when it names none. */
  async resolveCommit(ref: string): Promise<string | undefined> {
    if (!ref || UNSAFE.test(ref) || /\s/.test(ref)) return undefined;
    // A full commit id never changes meaning: the long-lived reader answers it. Ref names are
    // read fresh, since pushes move them.
    if (SHA.test(ref)) return (await this.object(`${ref}^{commit}`))?.oid;
    try {
      return await this.text(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
    } catch {
      return undefined;
    }
  }

  async defaultBranch(): Promise<string> {
    const head = await this.text(['symbolic-ref', 'HEAD']);
    return head.replace(/^refs\/heads\//, '');
  }

  async branchExists(branch: string): Promise<boolean> {
    if (UNSAFE.test(branch)) return false;
    try {
      await this.run(['show-ref', '--verify', '--quiet', `refs/heads/${branch}`]);
      return true;
    } catch {
      return false;
    }
  }

  /** Entries of the tree `treeish` names (commit, tree, ref), recursively or one level. */
  async tree(treeish: string, recursive: boolean): Promise<TreeEntry[] | undefined> {
    if (UNSAFE.test(treeish)) return undefined;
    let out: Buffer;
    try {
      out = await this.run(['ls-tree', '-l', '-z', ...(recursive ? ['-r', '-t'] : []), treeish]);
    } catch {
      return undefined;
    }
    return out
      .toString('utf8')
      .split('\0')
      .filter(Boolean)
      .map((line) => {
        const tab = line.indexOf('\t');
        const [mode = '', type = '', oid = '', size = '-'] = line.slice(0, tab).split(/\s+/);
        return {
          mode,
          type,
          oid,
          ...(size === '-' ? {} : { size: Number(size) }),
          path: line.slice(tab + 1),
        };
      });
  }

  async commits(range: string, limit?: number): Promise<CommitInfo[]> {
    const format = '%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B%x1e';
    const args = ['log', '--reverse', `--format=${format}`];
    if (limit !== undefined) args.push(`--max-count=${limit}`);
    const out = (await this.run([...args, range, '--'])).toString('utf8');
    return out
      .split('\x1e')
      .map((r) => r.replace(/^\n/, ''))
      .filter(Boolean)
      .map((record) => {
        const [
          sha = '',
          parents = '',
          an = '',
          ae = '',
          ad = '',
          cn = '',
          ce = '',
          cd = '',
          msg = '',
        ] = record.split('\0');
        return {
          sha,
          parents: parents.split(' ').filter(Boolean),
          author: { name: an, email: ae, date: ad },
          committer: { name: cn, email: ce, date: cd },
          message: msg.replace(/\n+$/, ''),
        };
      });
  }

  async count(range: string): Promise<number> {
    return Number(await this.text(['rev-list', '--count', range, '--']));
  }

  async mergeBase(a: string, b: string): Promise<string | undefined> {
    try {
      return await this.text(['merge-base', a, b]);
    } catch {
      return undefined;
    }
  }

  /** Files changed from `base` to `head`, with line counts, renames detected like GitHub. */
  async changes(base: string, head: string): Promise<FileChange[]> {
    const numstat = (await this.run(['diff', '--numstat', '-z', '-M', base, head])).toString(
      'utf8',
    );
    const status = (await this.run(['diff', '--name-status', '-z', '-M', base, head])).toString(
      'utf8',
    );
    const counts: { additions: number; deletions: number }[] = [];
    const fields = numstat.split('\0');
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i] ?? '';
      if (!field) continue;
      const [added = '0', deleted = '0', name = ''] = field.split('\t');
      if (name === '') i += 2; // a rename: the old and new names follow
      counts.push({
        additions: added === '-' ? 0 : Number(added),
        deletions: deleted === '-' ? 0 : Number(deleted),
      });
    }
    const changes: FileChange[] = [];
    const parts = status.split('\0');
    for (let i = 0; i < parts.length && parts[i];) {
      const code = parts[i] ?? '';
      const kind = code[0];
      const count = counts[changes.length] ?? { additions: 0, deletions: 0 };
      const base = { ...count };
      if (kind === 'R' || kind === 'C') {
        changes.push({
          filename: parts[i + 2] ?? '',
          previous_filename: parts[i + 1] ?? '',
          status: kind === 'R' ? 'renamed' : 'copied',
          ...base,
        });
        i += 3;
      } else {
        const statusName =
          kind === 'A' ? 'added' : kind === 'D' ? 'removed' : kind === 'M' ? 'modified' : 'changed';
        changes.push({ filename: parts[i + 1] ?? '', status: statusName, ...base });
        i += 2;
      }
    }
    return changes;
  }

  /**
   * Commits `files` (null deletes a file) on top of `branch` without a work tree, in one
   * `git fast-import`, and returns the new commit. The branch must exist.
   */
  async commit(
    branch: string,
    files: Record<string, string | Buffer | null>,
    message: string,
    author = { name: 'A Human', email: 'human@example.com' },
  ): Promise<string> {
    const parent = await this.resolveCommit(`refs/heads/${branch}`);
    if (!parent) throw new Error(`no branch ${branch} in ${this.dir}`);
    const now = Math.floor(Date.now() / 1000);
    const chunks: Buffer[] = [];
    const line = (text: string) => chunks.push(Buffer.from(`${text}\n`, 'utf8'));
    const data = (content: Buffer) => {
      line(`data ${content.length}`);
      chunks.push(content, Buffer.from('\n'));
    };
    line(`commit refs/heads/${branch}`);
    line(`author ${author.name} <${author.email}> ${now} +0000`);
    line(`committer ${author.name} <${author.email}> ${now} +0000`);
    data(Buffer.from(message, 'utf8'));
    line(`from ${parent}`);
    for (const [path, content] of Object.entries(files)) {
      if (UNSAFE.test(path)) throw new Error(`unusable path ${JSON.stringify(path)}`);
      const quoted = JSON.stringify(path);
      if (content === null) {
        line(`D ${quoted}`);
      } else {
        line(`M 100644 inline ${quoted}`);
        data(Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8'));
      }
    }
    line('done');
    await this.run(['fast-import', '--quiet', '--done'], { input: Buffer.concat(chunks) });
    return this.text(['rev-parse', `refs/heads/${branch}`]);
  }

  close(): void {
    this.#batch?.close();
    this.#batch = undefined;
  }
}
