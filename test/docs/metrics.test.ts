// The README's "Metrics" table lists every metric DAG registers, with its type and labels: a
// metric added, renamed or relabelled without the table (or the other way round) fails here.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics/registry.ts';

const readme = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');

type Documented = { name: string; type: string; labels: string[] };

/** The rows of the table in the README's "## Metrics" section. */
function documentedMetrics(): Documented[] {
  const start = readme.indexOf('\n## Metrics\n');
  expect(start).toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return section
    .split('\n')
    .filter((line) => /^\| `dag_/.test(line))
    .map((line) => {
      const [name = '', type = '', labels = ''] = line
        .split('|')
        .slice(1, 4)
        .map((cell) => cell.trim());
      return {
        name: name.replace(/`/g, ''),
        type,
        labels: [...labels.matchAll(/`([a-z_]+)`/g)].map((m) => m[1] as string).sort(),
      };
    });
}

/** What the registry holds, DAG's own metrics only (Node's process metrics aside). */
async function registeredMetrics(): Promise<Documented[]> {
  const metrics = new Metrics();
  const json = await metrics.registry.getMetricsAsJSON();
  return json
    .filter((metric) => metric.name.startsWith('dag_'))
    .map((metric) => {
      const object = metrics.registry.getSingleMetric(metric.name) as unknown as {
        labelNames?: string[];
      };
      return {
        name: metric.name,
        type: String(metric.type),
        labels: [...(object.labelNames ?? [])].sort(),
      };
    });
}

describe('README metrics', () => {
  it('lists every metric DAG registers, with its type and labels, and no other', async () => {
    const documented = documentedMetrics();
    const registered = await registeredMetrics();
    expect(documented.length).toBeGreaterThan(10);
    const byName = (a: Documented, b: Documented) => a.name.localeCompare(b.name);
    expect([...documented].sort(byName)).toEqual([...registered].sort(byName));
  });

  it('documents the setting that protects /metrics', () => {
    expect(readme).toMatch(/^\| `DAG_METRICS_TOKEN` /m);
  });
});
