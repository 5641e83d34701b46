import { UserError } from '../errors.ts';
import type { Cluster } from '../model.ts';
import type { Db } from './db.ts';
import { ENVIRONMENT_REFERENCES } from './environments.ts';
import { constraintMessages, parseRow, type Row } from './rows.ts';
import type { SealedSecrets } from './sealed-secrets.ts';
import { clusterRow, type NewCluster } from './types.ts';

function toCluster(row: Row): Cluster {
  const r = parseRow(clusterRow, 'clusters', row);
  return {
    id: r.id,
    name: r.name,
    apiUrl: r.api_url,
    caCert: r.ca_cert,
    hasToken: r.service_account_token !== null,
    createdAt: r.created_at,
  };
}

/** Turns a constraint violation of clusters (or a removal still referenced) into a sentence. */
const friendly = constraintMessages({
  clusters_name_key: 'a cluster with this name already exists',
  clusters_name_check: 'cluster names use letters, digits, ".", "_" and "-"',
  clusters_api_url_check: 'the cluster API URL must be an http(s) URL',
  apps_environments_cluster_id_fkey: ENVIRONMENT_REFERENCES.apps_environments_cluster_id_fkey,
});

/** The clusters in SQL, with their service account tokens sealed. */
export class SqlClusterStore {
  readonly #db: Db;
  readonly #secrets: SealedSecrets;

  constructor(db: Db, secrets: SealedSecrets) {
    this.#db = db;
    this.#secrets = secrets;
  }

  async listClusters(): Promise<Cluster[]> {
    const { rows } = await this.#db.query('SELECT * FROM clusters ORDER BY id');
    return rows.map(toCluster);
  }

  async findCluster(ref: string): Promise<Cluster | undefined> {
    const all = await this.listClusters();
    return (
      all.find((c) => /^\d+$/.test(ref) && c.id === Number(ref)) ?? all.find((c) => c.name === ref)
    );
  }

  async addCluster(input: NewCluster): Promise<Cluster> {
    const token = input.serviceAccountToken ? this.#secrets.seal(input.serviceAccountToken) : null;
    const { rows } = await friendly(
      this.#db.query(
        'INSERT INTO clusters (name, api_url, service_account_token, ca_cert) VALUES ($1, $2, $3, $4) RETURNING *',
        [input.name, input.apiUrl, token, input.caCert ?? null],
      ),
    );
    return toCluster(rows[0] as Row);
  }

  async removeCluster(ref: string): Promise<Cluster> {
    const cluster = await this.findCluster(ref);
    if (!cluster) throw new UserError(`unknown cluster: ${ref} (see: dag clusters list)`);
    await friendly(this.#db.query('DELETE FROM clusters WHERE id = $1', [cluster.id]));
    return cluster;
  }

  clusterToken(id: number): Promise<string | null> {
    return this.#secrets.read('clusters', 'service_account_token', id);
  }

  async getCluster(id: number): Promise<Cluster | undefined> {
    const { rows } = await this.#db.query('SELECT * FROM clusters WHERE id = $1', [id]);
    return rows[0] ? toCluster(rows[0]) : undefined;
  }
}
