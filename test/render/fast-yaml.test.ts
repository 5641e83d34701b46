import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { displayYaml } from '../../src/diff/display-yaml.ts';
import { fastDocument, parseYamlDocumentsFast } from '../../src/render/fast-yaml.ts';
import { parseYamlDocuments } from '../../src/render/yaml.ts';
import { generatePairs } from '../diff/generate-objects.ts';
import { catalogueTexts, mutants, repositoryYaml, scalarTexts, TRICKY } from './yaml-cases.ts';

/** What a reader returns for `text`: its value, or the message it throws. */
function outcome(read: (text: string, source: string) => unknown[], text: string) {
  try {
    return { value: read(text, 'the object') };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

function expectSame(text: string): void {
  expect(outcome(parseYamlDocumentsFast, text), JSON.stringify(text)).toStrictEqual(
    outcome(parseYamlDocuments, text),
  );
}

describe('parseYamlDocumentsFast', () => {
  it('reads every generated diff object, as the bench and kubectl print them, fast and the same', () => {
    for (const pair of generatePairs(100)) {
      for (const object of [pair.live, pair.desired]) {
        for (const text of [
          displayYaml(object, { sortKeys: true }),
          stringify(object, { aliasDuplicateObjects: false }),
        ]) {
          expect(fastDocument(text)).toBeDefined();
          expectSame(text);
        }
      }
    }
  });

  it('reads the secret catalogue the same', () => {
    for (const text of catalogueTexts()) expectSame(text);
  });

  it('reads the repository’s Kubernetes and Flux YAML the same', () => {
    const texts = repositoryYaml();
    expect(texts.length).toBeGreaterThan(0);
    for (const text of texts) expectSame(text);
  });

  it('resolves every tricky scalar as the `yaml` path does', () => {
    for (const text of scalarTexts()) expectSame(text);
  });

  it('reads tricky documents the same, or leaves them to the `yaml` path', () => {
    for (const text of TRICKY) expectSame(text);
  });

  it('leaves anchors, aliases, tags, merge keys, null keys and long keys to the `yaml` path', () => {
    for (const text of [
      'a: &x 1\nb: *x\n',
      'a: !!str 1\n',
      '<<: {a: 1}\n',
      'null: 1\n',
      '~: 1\n',
      `${'k'.repeat(1100)}: 1\n`,
      'a: 1\n---\nb: 2\n',
      'a: {b: 1}\n',
    ]) {
      expect(fastDocument(text), text).toBeUndefined();
    }
  });

  it('agrees with the `yaml` path on thousands of small edits of valid documents', () => {
    for (const text of mutants(4_000)) expectSame(text);
  });
});
