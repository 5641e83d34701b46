import { UserError } from '../errors.ts';
import type { SecretMasker } from '../log.ts';
import { Keyring, isSealed } from './crypto.ts';
import type { Db, Queryable } from './db.ts';
import type { SecretsReport } from './types.ts';

/** The columns that hold tokens, sealed at rest with the Keyring. */
const SECRET_COLUMNS = [
  { table: 'iacs', column: 'access_token' },
  { table: 'clusters', column: 'service_account_token' },
] as const;

/**
 * The tokens of IAC repositories and clusters: sealed with the Keyring when written, opened when
 * read (a plaintext one, inserted by plain SQL, is sealed on first read), resealed under the
 * current key; every plaintext seen is fed to the SecretMasker.
 */
export class SealedSecrets {
  readonly #db: Db;
  readonly #keyring: Keyring;
  readonly #masker: SecretMasker | undefined;

  constructor(db: Db, keyring: Keyring, masker?: SecretMasker) {
    this.#db = db;
    this.#keyring = keyring;
    this.#masker = masker;
  }

  /** The value to store for a new token. */
  seal(plaintext: string): string {
    return this.#keyring.seal(plaintext);
  }

  /** The decrypted token of a row; a plaintext one found in the row is sealed first. */
  async read(table: string, column: string, id: number): Promise<string | null> {
    const { rows } = await this.#db.query<{ value: string | null }>(
      `SELECT ${column} AS value FROM ${table} WHERE id = $1`,
      [id],
    );
    if (rows.length === 0) throw new UserError(`no ${table} row with id ${id}`);
    const value = rows[0]?.value ?? null;
    if (value === null) return null;
    if (isSealed(value)) {
      const plaintext = this.#keyring.open(value);
      this.#masker?.add(plaintext);
      return plaintext;
    }
    // Inserted as plaintext since start (plain SQL, as the docs show): seal before use.
    // The WHERE clause keeps a concurrent reseal from being overwritten.
    this.#masker?.add(value);
    await this.#db.query(
      `UPDATE ${table} SET ${column} = $1, updated_at = now() WHERE id = $2 AND ${column} = $3`,
      [this.#keyring.seal(value), id, value],
    );
    return value;
  }

  /** Seals plaintext tokens and reseals those under an old key. */
  async normalize(): Promise<{ sealed: number; resealed: number }> {
    let sealed = 0;
    let resealed = 0;
    for (const { table, column } of SECRET_COLUMNS) {
      const counts = await this.#db.transaction(async (tx) => {
        const { rows } = await tx.query<{ id: number; value: string }>(
          `SELECT id, ${column} AS value FROM ${table} WHERE ${column} IS NOT NULL ORDER BY id FOR UPDATE`,
        );
        let s = 0;
        let r = 0;
        for (const row of rows) {
          if (!isSealed(row.value)) {
            await this.#store(tx, table, column, row.id, row.value);
            s++;
          } else if (Keyring.sealedWith(row.value) !== this.#keyring.currentId) {
            await this.#store(tx, table, column, row.id, this.#keyring.open(row.value));
            r++;
          }
        }
        return [s, r] as const;
      });
      sealed += counts[0];
      resealed += counts[1];
    }
    return { sealed, resealed };
  }

  async report(): Promise<SecretsReport> {
    const report: SecretsReport = {
      sealed: 0,
      plaintext: 0,
      oldKey: 0,
      unknownKey: 0,
      unreadable: [],
    };
    for (const { table, column } of SECRET_COLUMNS) {
      const { rows } = await this.#db.query<{ id: number; value: string }>(
        `SELECT id, ${column} AS value FROM ${table} WHERE ${column} IS NOT NULL ORDER BY id`,
      );
      for (const { id: rowId, value } of rows) {
        const id = Keyring.sealedWith(value);
        if (!isSealed(value)) report.plaintext++;
        else if (id === this.#keyring.currentId) report.sealed++;
        else {
          try {
            this.#keyring.open(value);
            report.oldKey++;
          } catch {
            report.unknownKey++;
            report.unreadable.push({ table, column, id: rowId, keyId: id });
          }
        }
      }
    }
    return report;
  }

  async #store(tx: Queryable, table: string, column: string, id: number, plaintext: string) {
    this.#masker?.add(plaintext);
    await tx.query(`UPDATE ${table} SET ${column} = $1, updated_at = now() WHERE id = $2`, [
      this.#keyring.seal(plaintext),
      id,
    ]);
  }
}
