// The worker side of the preview pool (preview-pool.ts): piscina calls the export named by each
// task. Everything here is pure computation on what the task carries.

import type { DiffCommentModel, IacFileDiff, ObjectDiff } from './comment-model.ts';
import { fileDiffs } from './file-diffs.ts';
import {
  keepDiffsWithin,
  objectChange,
  yamlObjectChange,
  type ObjectPair,
  type YamlObjectPair,
} from './object-change.ts';
import { renderDiffComments, type DiffComments } from './split.ts';
import type { DiffObjectsOptions } from './unified.ts';

export type ObjectsTask = {
  pairs: (ObjectPair | YamlObjectPair)[];
  options: DiffObjectsOptions;
  /** False once the diffs before this batch fill what a preview can show: lengths only. */
  keepDiffs?: boolean;
};
export type FilesTask = {
  before: Record<string, string>;
  after: Record<string, string>;
  folder: string;
};

/** One batch of object pairs, each given as objects or as YAML text. */
export function objects(task: ObjectsTask): ObjectDiff[] {
  const out = task.pairs.map((pair) =>
    'liveYaml' in pair ? yamlObjectChange(pair, task.options) : objectChange(pair, task.options),
  );
  return task.keepDiffs === false ? keepDiffsWithin(out, 0) : out;
}

/** Some of an IAC folder's changed files. */
export function files(task: FilesTask): IacFileDiff[] {
  return fileDiffs(task.before, task.after, task.folder);
}

/** A whole preview as DAG's sticky comments (`renderDiffComments`). */
export function comments(model: DiffCommentModel): DiffComments {
  return renderDiffComments(model);
}
