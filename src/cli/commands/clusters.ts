import type { Command } from 'commander';
import { withContext } from '../context.ts';
import type { Cli } from '../io.ts';
import { printList } from '../output.ts';
import { readCaFile } from '../../util/ca-file.ts';
import { readSecret } from '../read-secret.ts';
import { apiUrl, resourceName } from '../validate.ts';
import type { Cluster } from '../../model.ts';

type AddOptions = { name: string; apiUrl: string; caFile?: string; tokenStdin?: boolean };

function clusterJson(cluster: Cluster) {
  return {
    id: cluster.id,
    name: cluster.name,
    apiUrl: cluster.apiUrl,
    hasCaCert: cluster.caCert !== null,
    hasToken: cluster.hasToken,
    createdAt: cluster.createdAt.toISOString(),
  };
}

export function registerClusterCommands(program: Command, cli: Cli): void {
  const clusters = program.command('clusters').description('Kubernetes clusters DAG watches');

  clusters
    .command('add')
    .description('register a cluster (the service account token is sealed before it is stored)')
    .requiredOption('--name <name>', 'name to refer to it, e.g. prod-1')
    .requiredOption('--api-url <url>', 'API server URL, e.g. https://k8s.example.com:6443')
    .option('--ca-file <path>', "PEM file with the API server's CA certificate")
    .option(
      '--token-stdin',
      'read the service account token from stdin (else from DAG_CLUSTER_TOKEN, if set)',
    )
    .action(async (options: AddOptions) => {
      const name = resourceName('cluster', options.name);
      const url = apiUrl(options.apiUrl);
      const ca = options.caFile === undefined ? undefined : readCaFile(options.caFile);
      if (ca && ca.validTo.getTime() < Date.now()) {
        cli.note(`dag: warning: the CA certificate expired on ${ca.validTo.toISOString()}`);
      }
      const serviceAccountToken = await readSecret(cli, {
        fromStdin: options.tokenStdin === true,
        envName: 'DAG_CLUSTER_TOKEN',
      });
      if (!ca && url.startsWith('https:')) {
        cli.note("dag: note: no --ca-file: DAG will verify the API server with Node's default CAs");
      }
      const cluster = await withContext(cli, ({ store }) =>
        store.addCluster({ name, apiUrl: url, serviceAccountToken, caCert: ca?.pem }),
      );
      const details = [
        ca ? `CA: ${ca.count} certificate(s)` : 'no CA',
        cluster.hasToken ? 'sealed token' : 'no token',
      ].join(', ');
      cli.print(`added cluster ${cluster.id}: ${cluster.name} (${cluster.apiUrl}; ${details})`);
    });

  clusters
    .command('list')
    .description('list clusters (tokens are never shown)')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }) => {
      const all = await withContext(cli, ({ store }) => store.listClusters());
      printList(cli, options, all, {
        headers: ['id', 'name', 'api', 'ca', 'token'],
        row: (c) => [c.id, c.name, c.apiUrl, c.caCert ? 'set' : null, c.hasToken ? 'set' : null],
        json: clusterJson,
        empty: 'no clusters yet (add one: dag clusters add --name NAME --api-url URL)',
      });
    });

  clusters
    .command('remove')
    .description('remove a cluster no environment uses')
    .argument('<cluster>', 'id or name')
    .action(async (ref: string) => {
      const cluster = await withContext(cli, ({ store }) => store.removeCluster(ref));
      cli.print(`removed cluster ${cluster.id}: ${cluster.name}`);
    });
}
