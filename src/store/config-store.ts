import type { SecretMasker } from '../log.ts';
import type { App, Cluster, Environment, Iac } from '../model.ts';
import { SqlAppStore } from './apps.ts';
import { SqlClusterStore } from './clusters.ts';
import type { Keyring } from './crypto.ts';
import type { Db } from './db.ts';
import { SqlDeployStore } from './deploys.ts';
import { SqlEnvironmentStore } from './environments.ts';
import { SqlIacStore } from './iacs.ts';
import { SqlPromotionStore } from './promotion-store.ts';
import { SealedSecrets } from './sealed-secrets.ts';
import type {
  AppPatch,
  ConfigStore,
  DeployAsk,
  DeployPatch,
  DeployRecord,
  EnvironmentPatch,
  DeployState,
  DeployStore,
  NewApp,
  NewCluster,
  NewEnvironment,
  NewIac,
  NewPromotionRoute,
  PromotionRecord,
  PromotionRoute,
  PromotionStore,
  SecretsReport,
} from './types.ts';

/**
 * DAG's configuration, deploys and promotions in SQL: one object over the store of each entity
 * (apps, IAC repositories, clusters, environments, deploys, promotions) and the sealed tokens.
 */
export class SqlConfigStore implements ConfigStore, DeployStore, PromotionStore {
  readonly #apps: SqlAppStore;
  readonly #iacs: SqlIacStore;
  readonly #clusters: SqlClusterStore;
  readonly #environments: SqlEnvironmentStore;
  readonly #deploys: SqlDeployStore;
  readonly #promotions: SqlPromotionStore;
  readonly #secrets: SealedSecrets;

  constructor(db: Db, keyring: Keyring, masker?: SecretMasker) {
    this.#secrets = new SealedSecrets(db, keyring, masker);
    this.#apps = new SqlAppStore(db);
    this.#iacs = new SqlIacStore(db, this.#secrets);
    this.#clusters = new SqlClusterStore(db, this.#secrets);
    this.#environments = new SqlEnvironmentStore(db, {
      apps: this.#apps,
      iacs: this.#iacs,
      clusters: this.#clusters,
    });
    this.#deploys = new SqlDeployStore(db);
    this.#promotions = new SqlPromotionStore(db, this);
  }

  // ---- apps (SqlAppStore)

  listApps(): Promise<App[]> {
    return this.#apps.listApps();
  }

  findApp(ref: string): Promise<App | undefined> {
    return this.#apps.findApp(ref);
  }

  addApp(input: NewApp): Promise<App> {
    return this.#apps.addApp(input);
  }

  updateApp(ref: string, patch: AppPatch): Promise<App> {
    return this.#apps.updateApp(ref, patch);
  }

  removeApp(ref: string): Promise<App> {
    return this.#apps.removeApp(ref);
  }

  findAppByRepoUrls(urls: string[]): Promise<App | undefined> {
    return this.#apps.findAppByRepoUrls(urls);
  }

  getApp(id: number): Promise<App | undefined> {
    return this.#apps.getApp(id);
  }

  // ---- IAC repositories (SqlIacStore)

  listIacs(): Promise<Iac[]> {
    return this.#iacs.listIacs();
  }

  findIac(ref: string): Promise<Iac | undefined> {
    return this.#iacs.findIac(ref);
  }

  addIac(input: NewIac): Promise<Iac> {
    return this.#iacs.addIac(input);
  }

  removeIac(ref: string): Promise<Iac> {
    return this.#iacs.removeIac(ref);
  }

  iacToken(id: number): Promise<string | null> {
    return this.#iacs.iacToken(id);
  }

  getIac(id: number): Promise<Iac | undefined> {
    return this.#iacs.getIac(id);
  }

  // ---- clusters (SqlClusterStore)

  listClusters(): Promise<Cluster[]> {
    return this.#clusters.listClusters();
  }

  findCluster(ref: string): Promise<Cluster | undefined> {
    return this.#clusters.findCluster(ref);
  }

  addCluster(input: NewCluster): Promise<Cluster> {
    return this.#clusters.addCluster(input);
  }

  removeCluster(ref: string): Promise<Cluster> {
    return this.#clusters.removeCluster(ref);
  }

  clusterToken(id: number): Promise<string | null> {
    return this.#clusters.clusterToken(id);
  }

  getCluster(id: number): Promise<Cluster | undefined> {
    return this.#clusters.getCluster(id);
  }

  // ---- environments (SqlEnvironmentStore)

  listEnvironments(appRef?: string): Promise<Environment[]> {
    return this.#environments.listEnvironments(appRef);
  }

  addEnvironment(input: NewEnvironment): Promise<Environment> {
    return this.#environments.addEnvironment(input);
  }

  removeEnvironment(appRef: string, name: string): Promise<Environment> {
    return this.#environments.removeEnvironment(appRef, name);
  }

  setEnvironment(appRef: string, name: string, patch: EnvironmentPatch): Promise<Environment> {
    return this.#environments.setEnvironment(appRef, name, patch);
  }

  getEnvironment(id: number): Promise<Environment | undefined> {
    return this.#environments.getEnvironment(id);
  }

  // ---- deploys (SqlDeployStore)

  beginDeploy(input: Parameters<DeployStore['beginDeploy']>[0]): Promise<DeployRecord> {
    return this.#deploys.beginDeploy(input);
  }

  requestDeploy(input: Parameters<DeployStore['requestDeploy']>[0]): Promise<DeployAsk> {
    return this.#deploys.requestDeploy(input);
  }

  claimDeployment(
    id: number,
    staleAfterSeconds: number,
    owner?: string,
  ): Promise<{ claimed: false } | { claimed: true; takenOver: boolean }> {
    return this.#deploys.claimDeployment(id, staleAfterSeconds, owner);
  }

  releaseDeploymentClaim(id: number): Promise<void> {
    return this.#deploys.releaseDeploymentClaim(id);
  }

  markReported(id: number, state: DeployState): Promise<boolean> {
    return this.#deploys.markReported(id, state);
  }

  getDeploy(id: number): Promise<DeployRecord | undefined> {
    return this.#deploys.getDeploy(id);
  }

  updateDeploy(id: number, patch: DeployPatch): Promise<DeployRecord> {
    return this.#deploys.updateDeploy(id, patch);
  }

  listDeploys(options?: { environmentId?: number; limit?: number }): Promise<DeployRecord[]> {
    return this.#deploys.listDeploys(options);
  }

  // ---- promotions (SqlPromotionStore)

  addRoute(input: NewPromotionRoute): Promise<PromotionRoute> {
    return this.#promotions.addRoute(input);
  }

  listRoutes(appRef?: string): Promise<PromotionRoute[]> {
    return this.#promotions.listRoutes(appRef);
  }

  getRoute(id: number): Promise<PromotionRoute | undefined> {
    return this.#promotions.getRoute(id);
  }

  removeRoute(appRef: string, from: string, to: string): Promise<PromotionRoute> {
    return this.#promotions.removeRoute(appRef, from, to);
  }

  currentPromotion(routeId: number): Promise<PromotionRecord | undefined> {
    return this.#promotions.currentPromotion(routeId);
  }

  savePromotion(
    record: Omit<PromotionRecord, 'id' | 'updatedAt'> & { id?: number | undefined },
  ): Promise<PromotionRecord> {
    return this.#promotions.savePromotion(record);
  }

  findPromotionByPullRequest(
    repoUrl: string,
    number: number,
  ): Promise<PromotionRecord | undefined> {
    return this.#promotions.findPromotionByPullRequest(repoUrl, number);
  }

  // ---- upkeep

  async normalize(): Promise<{ sealed: number; resealed: number; named: number }> {
    const { sealed, resealed } = await this.#secrets.normalize();
    const named = await this.#environments.nameEnvironments();
    return { sealed, resealed, named };
  }

  secretsReport(): Promise<SecretsReport> {
    return this.#secrets.report();
  }
}
