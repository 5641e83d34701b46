import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SecretMasker } from '../../src/log.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { ConfigError } from '../../src/errors.ts';
import { readSettings } from '../../src/settings.ts';
import { Keyring, isSealed } from '../../src/store/crypto.ts';
import { assertSecretsReadable } from '../../src/store/keys.ts';
import { migrate, pendingMigrations } from '../../src/store/migrate.ts';
import { LANES, openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';

const seed = (name: string) =>
  readFileSync(new URL(`../fixtures/seeds/${name}.sql`, import.meta.url), 'utf8');

describe.each(LANES)('config store (%s)', (lane) => {
  let lane_: LaneDb;
  let keyring: Keyring;
  let store: SqlConfigStore;

  beforeEach(async () => {
    lane_ = await openLane(lane);
    keyring = new Keyring(randomKey());
    store = new SqlConfigStore(lane_.db, keyring, new SecretMasker());
  });
  afterEach(async () => {
    await lane_.drop();
  });

  it('applies every migration once', async () => {
    expect(await pendingMigrations(lane_.db)).toEqual([]);
    expect(await migrate(lane_.db)).toEqual([]);
  });

  it('accepts the seed single-environment SQL verbatim and names it production', async () => {
    await lane_.db.query(seed('single-environment'));
    const result = await store.normalize();
    expect(result).toEqual({ sealed: 2, resealed: 0, named: 1 });
    const [env] = await store.listEnvironments('my-app');
    expect(env).toMatchObject({
      name: 'production',
      branch: 'main',
      iacPath: 'clusters/production/my-app',
      helmType: 'flux',
      helmNamespace: 'default',
      helmName: 'my-app',
      iacBranch: null,
      reconciledBranch: null,
    });
  });

  it('accepts the seed staging + production SQL verbatim and seals every token', async () => {
    await lane_.db.query(seed('multiple-environments'));
    await store.normalize();
    const envs = await store.listEnvironments('https://gitlab.com/org/my-app');
    expect(envs.map((e) => [e.branch, e.name])).toEqual([
      ['develop', 'staging'],
      ['main', 'production'],
    ]);
    // No plaintext token is left in the database ...
    const { rows } = await lane_.db.query<{ t: string }>(
      'SELECT access_token AS t FROM iacs UNION ALL SELECT service_account_token FROM clusters',
    );
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(isSealed(row.t)).toBe(true);
      expect(row.t).not.toContain('your-');
    }
    // ... and DAG still reads the tokens the operator inserted.
    expect(await store.iacToken(1)).toBe('your-access-token');
    expect(await store.clusterToken(1)).toBe('your-sa-token');
    expect(await store.secretsReport()).toEqual({
      sealed: 2,
      plaintext: 0,
      oldKey: 0,
      unknownKey: 0,
      unreadable: [],
    });
  });

  it('seals a plaintext token inserted while running before using it', async () => {
    await lane_.db.query(seed('single-environment'));
    await store.normalize();
    await lane_.db.query(
      "INSERT INTO iacs (name, repo_url, access_token) VALUES ('late', 'https://github.com/o/iac', 'late-token')",
    );
    const late = await store.findIac('late');
    expect(await store.iacToken(late?.id as number)).toBe('late-token');
    const { rows } = await lane_.db.query<{ t: string }>(
      "SELECT access_token AS t FROM iacs WHERE name = 'late'",
    );
    expect(isSealed(rows[0]?.t as string)).toBe(true);
  });

  it('reseals values under an old key with the current one', async () => {
    await lane_.db.query(seed('single-environment'));
    await store.normalize();
    const rotated = new Keyring(randomKey(), [keyring.current]);
    const store2 = new SqlConfigStore(lane_.db, rotated);
    expect(await store2.secretsReport()).toMatchObject({ oldKey: 2, sealed: 0 });
    expect(await store2.normalize()).toMatchObject({ resealed: 2 });
    expect(await store2.secretsReport()).toMatchObject({ oldKey: 0, sealed: 2 });
    expect(await store2.iacToken(1)).toBe('your-access-token');
    // A store without the key that sealed them reports them as unreadable.
    const strangerKeyring = new Keyring(randomKey());
    const stranger = new SqlConfigStore(lane_.db, strangerKeyring);
    const report = await stranger.secretsReport();
    expect(report).toMatchObject({ unknownKey: 2 });
    expect(report.unreadable).toEqual([
      { table: 'iacs', column: 'access_token', id: 1, keyId: rotated.currentId },
      { table: 'clusters', column: 'service_account_token', id: 1, keyId: rotated.currentId },
    ]);
    await expect(stranger.iacToken(1)).rejects.toThrow(/not configured/);
    // DAG refuses to start on them, saying where they are and which key sealed them.
    const settings = readSettings({
      DAG_DATA_DIR: 'memory://',
      DAG_ENCRYPTION_KEY: 'a'.repeat(64),
    });
    const refused = assertSecretsReadable(stranger, strangerKeyring, settings);
    await expect(refused).rejects.toThrow(ConfigError);
    await expect(refused).rejects.toThrow(
      `2 stored secret(s) cannot be opened with the configured encryption key ${strangerKeyring.currentId}: iacs.access_token row 1; clusters.service_account_token row 1, sealed with key ${rotated.currentId}. Set the key that sealed them in DAG_ENCRYPTION_KEY or DAG_ENCRYPTION_OLD_KEYS;`,
    );
    await expect(assertSecretsReadable(store2, rotated, settings)).resolves.toBeUndefined();
  });

  it('names an environment the operator names explicitly as given, unique per app', async () => {
    await lane_.db.query(seed('multiple-environments'));
    await store.normalize();
    const added = await store.addEnvironment({
      app: 'my-app',
      branch: 'release',
      iac: 'prod-iac',
      iacPath: 'clusters/canary/my-app',
      cluster: 'prod-1',
      helmType: 'plain',
      name: 'canary-eu',
    });
    expect(added.name).toBe('canary-eu');
    await expect(
      store.addEnvironment({
        app: 'my-app',
        branch: 'x',
        iac: 'prod-iac',
        iacPath: 'clusters/other/my-app',
        cluster: 'prod-1',
        helmType: 'flux',
        name: 'staging',
      }),
    ).rejects.toThrow('this app already has an environment with this name');
  });

  it.each([
    [
      'two environments writing the same IAC repo, branch and path',
      "INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type) VALUES (1, 'other', 1, 'clusters/staging/my-app/', 1, 'flux')",
      'apps_environments_target_key',
    ],
    [
      'a helm type outside flux and plain',
      "INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type) VALUES (1, 'x', 1, 'a/b', 1, 'kustomize')",
      'apps_environments_helm_type_check',
    ],
    [
      'an IAC path that climbs out of the repo',
      "INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type) VALUES (1, 'x', 1, 'a/../../etc', 1, 'flux')",
      'apps_environments_iac_path_check',
    ],
    [
      'a namespace that is not DNS-1123',
      "INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace) VALUES (1, 'x', 1, 'a/b', 1, 'flux', 'Bad_NS')",
      'apps_environments_helm_namespace_check',
    ],
    [
      'an unknown cluster',
      "INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type) VALUES (1, 'x', 1, 'a/b', 99, 'flux')",
      'apps_environments_cluster_id_fkey',
    ],
    [
      'a git provider DAG does not know',
      "INSERT INTO apps (git_provider, repo_url) VALUES ('bitbucket', 'https://bitbucket.org/o/r')",
      'apps_git_provider_check',
    ],
    [
      'the same app repository twice (case and .git aside)',
      "INSERT INTO apps (git_provider, repo_url) VALUES ('gitlab', 'https://GitLab.com/org/my-app.git')",
      'apps_repo_url_key',
    ],
  ])('the database refuses %s', async (_what, sql, constraint) => {
    await lane_.db.query(seed('multiple-environments'));
    await expect(lane_.db.query(sql)).rejects.toMatchObject({ constraint });
  });

  it('turns constraint violations into operator sentences', async () => {
    await lane_.db.query(seed('multiple-environments'));
    await expect(
      store.addEnvironment({
        app: 'my-app',
        branch: 'other',
        iac: 'prod-iac',
        iacPath: 'clusters/staging/my-app',
        cluster: 'prod-1',
        helmType: 'flux',
      }),
    ).rejects.toThrow('another environment already writes this IAC repository, branch and path');
    await expect(store.removeCluster('prod-1')).rejects.toThrow(
      'this cluster is still used by an environment',
    );
    await expect(
      store.addApp({ gitProvider: 'github', repoUrl: 'git@gitlab.com:org/my-app.git' }),
    ).rejects.toThrow(/already uses this repository/);
    await expect(store.findApp('nope')).resolves.toBeUndefined();
    await expect(store.removeApp('nope')).rejects.toThrow('unknown app: nope');
  });

  it('finds apps by id, URL in any form, or short name', async () => {
    await lane_.db.query(seed('single-environment'));
    for (const ref of [
      '1',
      'my-app',
      'git@gitlab.com:org/my-app.git',
      'https://www.gitlab.com/org/my-app/',
    ]) {
      expect((await store.findApp(ref))?.id).toBe(1);
    }
  });

  it('rejects a database row that breaks DAG assumptions with the row named', async () => {
    await lane_.db.query(seed('single-environment'));
    await lane_.db.query(
      "UPDATE apps SET repo_url = 'https://x.example/' || repeat('a', 0) WHERE id = 1",
    );
    await lane_.db.query('ALTER TABLE apps DROP CONSTRAINT apps_git_provider_check');
    await lane_.db.query("UPDATE apps SET git_provider = 'svn' WHERE id = 1");
    await expect(store.listApps()).rejects.toThrow(/row 1 of apps is invalid: git_provider/);
  });

  it('keeps the token out of everything it returns', async () => {
    const iac = await store.addIac({
      name: 'iac',
      repoUrl: 'https://github.com/o/iac.git',
      accessToken: 'ghp_supersecret',
    });
    expect(JSON.stringify(iac)).not.toContain('ghp_supersecret');
    expect(iac.hasToken).toBe(true);
    expect(JSON.stringify(await store.listIacs())).not.toContain('ghp_supersecret');
  });
});
