import type { IacFileDiff } from './comment-model.ts';
import { maskYamlFilePair } from './mask-files.ts';
import { maskDiffText } from './mask-text.ts';
import { unifiedDiff } from './unified.ts';

/**
 * The IAC files a deploy would change in `folder` (`before`: the files there now, `after`: the
 * new ones; path to text), masked and diffed. Files equal on both sides are left out at once.
 */
export function fileDiffs(
  before: Record<string, string>,
  after: Record<string, string>,
  folder: string,
): IacFileDiff[] {
  const paths = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const diffs: IacFileDiff[] = [];
  for (const path of paths) {
    const old = before[path];
    const next = after[path];
    if (old === next) continue;
    const full = `${folder}/${path}`;
    // Masked by structure first (a YAML file), then line by line (whatever is left, and files
    // that are not YAML).
    const structural = maskYamlFilePair(path, old, next);
    // A change the masked documents do not show (comments, layout) is shown as the files have it.
    const masked = structural && structural.before !== structural.after ? structural : null;
    const diff = unifiedDiff(
      (masked ? masked.before : old) ?? '',
      (masked ? masked.after : next) ?? '',
      {
        path: full,
        ...(old === undefined ? { oldHeader: '/dev/null' } : {}),
        ...(next === undefined ? { newHeader: '/dev/null' } : {}),
      },
    );
    diffs.push({
      path: full,
      change: old === undefined ? 'created' : next === undefined ? 'deleted' : 'changed',
      diff: maskDiffText(diff.text),
    });
  }
  return diffs;
}
