// One fresh database per test file (or per test), on the server that global-setup provides.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export type FreshDatabase = { url: string; drop(): Promise<void> };

export async function freshPostgresDatabase(): Promise<FreshDatabase> {
  const adminUrl = inject('postgresAdminUrl');
  const name = `dag_test_${randomBytes(8).toString('hex')}`;
  // the name is generated above from [a-z0-9_], so it is safe to splice as an identifier
  await withAdmin(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));

  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      await withAdmin(adminUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
      );
    },
  };
}

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
