import { isMap, parseDocument, YAMLMap } from 'yaml';
import { UserError } from '../errors.ts';
import { MAX_ALIAS_COUNT, MAX_VALUES_BYTES } from './yaml.ts';

/**
 * A chart's Chart.yaml with `appVersion` set and DAG's annotations added under `annotations`
 * (Helm's chart annotations, strings only). Edited in place, so the chart author's comments and
 * key order survive. Refuses a file that is not a chart description.
 */
export function annotateChartYaml(
  text: string,
  source: string,
  edit: { appVersion: string; annotations: Record<string, string> },
): string {
  if (Buffer.byteLength(text, 'utf8') > MAX_VALUES_BYTES) {
    throw new UserError(`${source}: larger than ${MAX_VALUES_BYTES} bytes`);
  }
  const doc = parseDocument(text, { uniqueKeys: true, logLevel: 'silent', compat: 'yaml-1.1' });
  const error = doc.errors[0];
  if (error) {
    const line = error.linePos?.[0].line;
    const reason = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    throw new UserError(`${source}${line === undefined ? '' : ` line ${line}`}: ${reason}`);
  }
  let chart: unknown;
  try {
    chart = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (cause) {
    throw new UserError(`${source}: not readable (${String(cause)})`, { cause });
  }
  const fields = chart as { apiVersion?: unknown; name?: unknown; version?: unknown } | null;
  if (!isMap(doc.contents) || typeof fields?.name !== 'string' || fields.version === undefined) {
    throw new UserError(`${source}: not a Helm Chart.yaml (a mapping with name and version)`);
  }
  doc.set('appVersion', edit.appVersion);
  let annotations = doc.get('annotations');
  if (!isMap(annotations)) {
    annotations = new YAMLMap();
    doc.set('annotations', annotations);
  }
  for (const [key, value] of Object.entries(edit.annotations)) {
    (annotations as YAMLMap).set(key, value);
  }
  return doc.toString({ lineWidth: 0 });
}
