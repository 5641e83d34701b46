// vitest globalSetup: one PostgreSQL server for the whole run. Tests get databases on it through
// freshPostgresDatabase() (test/helpers/databases.ts), never the admin URL's database itself.
//
// DAG_TEST_DATABASE_URL points the run at an existing server instead (its user must be allowed
// to create databases); otherwise a throwaway server is started from the local binaries.

import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.DAG_TEST_DATABASE_URL;
  if (external) {
    project.provide('postgresAdminUrl', external);
    return async () => {};
  }
  const server = await startPostgres();
  project.provide('postgresAdminUrl', server.url);
  return () => server.stop();
}
