import Handlebars from 'handlebars';
import { UserError } from '../errors.ts';

/** What an OCI image tag may be (distribution spec). */
export const IMAGE_TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Its own instance: the tag format sees only these fields and no helpers of DAG's templates. */
const tagHandlebars = Handlebars.create();
tagHandlebars.unregisterHelper('log');
tagHandlebars.unregisterHelper('lookup');

export type ImageTagFields = { sha: string; shortSha: string; branch: string };

/**
 * The image tag for a push: `format` (an app's `image_tag_format`, e.g. `{{shortSha}}` or
 * `{{branch}}-{{sha}}`) rendered over `{sha, shortSha, branch}` only. A format that does not
 * compile, names another field, or yields something that is not a valid tag is the user's error.
 */
export function renderImageTag(format: string, fields: ImageTagFields): string {
  let tag: string;
  try {
    const template = tagHandlebars.compile(format, {
      strict: true,
      noEscape: true,
      knownHelpersOnly: true,
    });
    tag = template({ sha: fields.sha, shortSha: fields.shortSha, branch: fields.branch });
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new UserError(
      `image tag format ${JSON.stringify(format)} does not render: ${reason}. It may use {{sha}}, {{shortSha}} and {{branch}}`,
      { cause: error },
    );
  }
  if (!IMAGE_TAG_PATTERN.test(tag)) {
    throw new UserError(
      `image tag format ${JSON.stringify(format)} gives ${JSON.stringify(tag)}, which is not a valid image tag: ` +
        'up to 128 letters, digits, "_", "." and "-", not starting with "." or "-"',
    );
  }
  return tag;
}
