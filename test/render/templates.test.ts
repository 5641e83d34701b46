import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError } from '../../src/errors.ts';
import {
  createTemplateHandlebars,
  DAG_TEMPLATES_DIR,
  loadTemplates,
  renderTemplate,
} from '../../src/render/templates.ts';
import type { TemplateEntry } from '../../src/render/templates.ts';

const temporary: string[] = [];

async function operatorFolder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dag-templates-'));
  temporary.push(dir);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  return dir;
}

afterEach(async () => {
  await Promise.all(temporary.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

function render(source: string, context: object): string {
  const handlebars = createTemplateHandlebars();
  return handlebars.compile(source, { strict: true, noEscape: true })(context);
}

function entry(templates: ReturnType<typeof loadTemplates>, name: string): TemplateEntry {
  const found = templates.entries.get(name);
  if (!found) throw new Error(`no template ${name}`);
  return found;
}

describe('template helpers', () => {
  it.each([
    'x\nevil: true',
    '{{',
    '{{#each}}',
    '{{> partial}}',
    '*alias',
    '&anchor x',
    'a: b',
    'key: value\n  nested: 1',
    '"quoted"',
    'yes',
    '0644',
    '',
  ])('{{yaml}} keeps %j one string value', (value) => {
    const text = render('a: {{yaml value}}\nb: 1\n', { value });
    expect(parse(text)).toEqual({ a: value, b: 1 });
  });

  it('{{yaml}} and {{json}} emit collections as flow JSON', () => {
    const value = { 'k: 1': ['x\ny', { n: null }], '{{': true };
    expect(parse(render('a: {{yaml value}}\n', { value }))).toEqual({ a: value });
    expect(parse(render('a: {{json value}}\n', { value }))).toEqual({ a: value });
  });

  it('{{indent}} emits block YAML under a key', () => {
    const value = { list: ['x\nevil: true', 2], 'a: b': { c: 'd' } };
    const text = render('top:\n  inner:{{indent 4 value}}\n  after: 1\n', { value });
    expect(parse(text)).toEqual({ top: { inner: value, after: 1 } });
    expect(parse(render('a:{{indent 2 value}}\n', { value: 'x\ny' }))).toEqual({ a: 'x\ny' });
    expect(parse(render('a:{{indent 2 value}}\n', { value: {} }))).toEqual({ a: {} });
  });

  it('{{shortSha}} gives seven characters', () => {
    expect(render('{{yaml (shortSha sha)}}', { sha: '9f86d081884c7d65' })).toBe('"9f86d08"');
  });

  it('refuses undefined values', () => {
    expect(() => render('a: {{yaml missing}}', { missing: undefined })).toThrow(/undefined/);
  });
});

describe('loadTemplates', () => {
  it("loads DAG's templates: *.hbs compiled, everything else verbatim", async () => {
    const templates = loadTemplates();
    expect(entry(templates, 'flux/helmrelease.yaml').kind).toBe('handlebars');
    expect(entry(templates, 'flux/source.yaml').kind).toBe('handlebars');
    expect(entry(templates, 'flux/kustomization.yaml').kind).toBe('handlebars');
    const deployment = entry(templates, 'plain/chart/templates/deployment.yaml');
    expect(deployment.kind).toBe('verbatim');
    const onDisk = await readFile(
      path.join(DAG_TEMPLATES_DIR, 'plain/chart/templates/deployment.yaml'),
      'utf8',
    );
    expect(renderTemplate(deployment, {})).toBe(onDisk);
    expect(onDisk).toContain('{{ include "dag.fullname" . }}');
  });

  it("lets an operator's folder replace files and falls back to DAG's for the rest", async () => {
    const dir = await operatorFolder({
      'flux/helmrelease.yaml.hbs':
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{yaml environment.releaseName}}\n',
      'flux/extra.yaml.hbs': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n',
    });
    const templates = loadTemplates(dir);
    expect(entry(templates, 'flux/helmrelease.yaml').file).toBe(
      path.join(dir, 'flux/helmrelease.yaml.hbs'),
    );
    expect(entry(templates, 'flux/extra.yaml').file).toBe(path.join(dir, 'flux/extra.yaml.hbs'));
    expect(entry(templates, 'flux/source.yaml').file).toBe(
      path.join(DAG_TEMPLATES_DIR, 'flux/source.yaml.hbs'),
    );
    expect([...templates.entries.keys()]).toEqual([...templates.entries.keys()].sort());
  });

  it.each([
    ['an unclosed block', 'a: 1\nb: {{#if x}}\nc: 2\n', /broken\.yaml\.hbs line \d+: /],
    [
      'mismatched blocks',
      'a: 1\n{{#if x}}\nb: 2\n{{/each}}\n',
      /broken\.yaml\.hbs line 2: if doesn't match each/,
    ],
    ['an unterminated mustache', 'a: 1\nb: 2\nc: {{yaml x\n', /broken\.yaml\.hbs line 3: /],
    [
      'an unknown helper',
      'a: 1\nb: {{yaml (upper x)}}\n',
      /broken\.yaml\.hbs line 2: .*unknown helper upper/,
    ],
    [
      'a raw value',
      'a: 1\nb: 2\nname: {{app.name}}\n',
      /broken\.yaml\.hbs line 3: \{\{app\.name\}\} splices a value raw/,
    ],
    [
      'a raw value in a block',
      '{{#if x}}\n  name: {{{x}}}\n{{/if}}\n',
      /broken\.yaml\.hbs line 2: .*splices a value raw/,
    ],
    ['a partial', 'a: {{> other}}\n', /broken\.yaml\.hbs line 1: PartialStatement is not allowed/],
  ])('refuses a template with %s, naming its file and line', async (_name, source, message) => {
    const dir = await operatorFolder({ 'flux/broken.yaml.hbs': source });
    expect(() => loadTemplates(dir)).toThrow(ConfigError);
    expect(() => loadTemplates(dir)).toThrow(message);
    expect(() => loadTemplates(dir)).toThrow(path.join(dir, 'flux/broken.yaml.hbs'));
  });

  it('allows raw mustaches in templates that are not YAML', async () => {
    const dir = await operatorFolder({ 'comments/deployed.md.hbs': 'Deployed {{app.name}}\n' });
    const templates = loadTemplates(dir);
    expect(renderTemplate(entry(templates, 'comments/deployed.md'), { app: { name: 'x' } })).toBe(
      'Deployed x\n',
    );
  });

  it('names the file and line of a missing field at render time', async () => {
    const dir = await operatorFolder({ 'flux/x.yaml.hbs': 'a: 1\nb: {{yaml nope.deeper}}\n' });
    const templates = loadTemplates(dir);
    expect(() => renderTemplate(entry(templates, 'flux/x.yaml'), {})).toThrow(ConfigError);
    expect(() => renderTemplate(entry(templates, 'flux/x.yaml'), {})).toThrow(
      /x\.yaml\.hbs line 2: "nope" is not defined/,
    );
  });

  it.each([
    [
      'a typo in an #if',
      'a: 1\n{{#if flux.chart.verison}}\nb: 1\n{{/if}}\n',
      / line 2: "flux\.chart\.verison" is not defined/,
    ],
    [
      'a missing helper argument',
      'a: 1\nb: 2\nc: {{yaml flux.nope}}\n',
      / line 3: "flux\.nope" is not defined/,
    ],
    [
      'an undefined value',
      'a: {{yaml flux.chart.nothing}}\n',
      / line 1: yaml: the value is undefined/,
    ],
  ])('refuses %s at render time, naming file and line', async (_name, source, message) => {
    const dir = await operatorFolder({ 'flux/x.yaml.hbs': source });
    const templates = loadTemplates(dir);
    const context = { flux: { chart: { version: null, nothing: undefined } } };
    expect(() => renderTemplate(entry(templates, 'flux/x.yaml'), context)).toThrow(ConfigError);
    expect(() => renderTemplate(entry(templates, 'flux/x.yaml'), context)).toThrow(message);
  });

  it('refuses a templates folder that does not exist', async () => {
    expect(() => loadTemplates('/nonexistent/dag-templates')).toThrow(
      /templates folder \/nonexistent\/dag-templates does not exist/,
    );
  });
});
