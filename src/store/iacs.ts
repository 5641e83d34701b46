import { UserError } from '../errors.ts';
import type { Iac } from '../model.ts';
import type { Db } from './db.ts';
import { ENVIRONMENT_REFERENCES } from './environments.ts';
import { constraintMessages, parseRow, type Row } from './rows.ts';
import type { SealedSecrets } from './sealed-secrets.ts';
import { iacRow, type NewIac } from './types.ts';

function toIac(row: Row): Iac {
  const r = parseRow(iacRow, 'iacs', row);
  return {
    id: r.id,
    name: r.name,
    repoUrl: r.repo_url,
    gitProvider: r.git_provider,
    hasToken: r.access_token !== null,
    createdAt: r.created_at,
  };
}

/** Turns a constraint violation of iacs (or a removal still referenced) into a sentence. */
const friendly = constraintMessages({
  iacs_name_key: 'an IAC repository with this name already exists',
  iacs_name_check: 'IAC names use letters, digits, ".", "_" and "-"',
  iacs_git_provider_check: "git provider must be 'github' or 'gitlab'",
  iacs_repo_url_check:
    'the IAC repository URL must start with https://, http://, ssh://, git@ or file://',
  apps_environments_iac_id_fkey: ENVIRONMENT_REFERENCES.apps_environments_iac_id_fkey,
});

/** The IAC repositories in SQL, with their access tokens sealed. */
export class SqlIacStore {
  readonly #db: Db;
  readonly #secrets: SealedSecrets;

  constructor(db: Db, secrets: SealedSecrets) {
    this.#db = db;
    this.#secrets = secrets;
  }

  async listIacs(): Promise<Iac[]> {
    const { rows } = await this.#db.query('SELECT * FROM iacs ORDER BY id');
    return rows.map(toIac);
  }

  async findIac(ref: string): Promise<Iac | undefined> {
    const all = await this.listIacs();
    return (
      all.find((i) => /^\d+$/.test(ref) && i.id === Number(ref)) ?? all.find((i) => i.name === ref)
    );
  }

  async addIac(input: NewIac): Promise<Iac> {
    const token = input.accessToken ? this.#secrets.seal(input.accessToken) : null;
    const { rows } = await friendly(
      this.#db.query(
        'INSERT INTO iacs (name, repo_url, access_token, git_provider) VALUES ($1, $2, $3, $4) RETURNING *',
        [input.name, input.repoUrl, token, input.gitProvider ?? null],
      ),
    );
    return toIac(rows[0] as Row);
  }

  async removeIac(ref: string): Promise<Iac> {
    const iac = await this.findIac(ref);
    if (!iac) throw new UserError(`unknown IAC repository: ${ref} (see: dag iacs list)`);
    await friendly(this.#db.query('DELETE FROM iacs WHERE id = $1', [iac.id]));
    return iac;
  }

  iacToken(id: number): Promise<string | null> {
    return this.#secrets.read('iacs', 'access_token', id);
  }

  async getIac(id: number): Promise<Iac | undefined> {
    const { rows } = await this.#db.query('SELECT * FROM iacs WHERE id = $1', [id]);
    return rows[0] ? toIac(rows[0]) : undefined;
  }
}
