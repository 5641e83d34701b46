import { UserError } from '../errors.ts';
import { isPlainObject } from './plain-object.ts';
import type { BundleInput } from './types.ts';

/** Where the image repository of a bundle came from. */
export type ImageRepository =
  { repository: string; from: 'app' | 'values' | 'default' } | { repository: null; from: 'none' };

/**
 * The image repository a bundle deploys, first found of:
 *
 * 1. the app's own setting (`apps.image_repository`), which an operator sets on purpose;
 * 2. `image.repository` in the app's values files (`values.yaml`, then the environment's), so a
 *    team that names its image is never overridden; a chart's own defaults do not count (Flux
 *    charts' are not even seen, and `helm create` puts `nginx` there);
 * 3. the default derived from the app's repository (`ghcr.io/<owner>/<repo>` on github.com,
 *    `registry.gitlab.com/<path>` on gitlab.com);
 * 4. none: DAG sets `image.tag` only and leaves the repository to the chart.
 *
 * An empty or null `image.repository` in the values counts as not set.
 */
export function chooseImageRepository(
  app: BundleInput['app'],
  /** The app's values files, merged (base, then the environment's). */
  values: Record<string, unknown>,
): ImageRepository {
  if (app.imageRepository !== null) {
    return { repository: checked(app.imageRepository, `of app ${app.name}`), from: 'app' };
  }
  const image = values.image;
  const fromValues = isPlainObject(image) ? image.repository : undefined;
  if (fromValues !== undefined && fromValues !== null && fromValues !== '') {
    if (typeof fromValues !== 'string') {
      throw new UserError(
        `image.repository in the values of app ${app.name} must be a string, found ${JSON.stringify(fromValues)}`,
      );
    }
    return { repository: checked(fromValues, `in the values of app ${app.name}`), from: 'values' };
  }
  if (app.defaultImageRepository !== null) {
    return { repository: app.defaultImageRepository, from: 'default' };
  }
  return { repository: null, from: 'none' };
}

function checked(repository: string, where: string): string {
  if (repository === '' || /[\s\p{Cc}]/u.test(repository)) {
    throw new UserError(`image repository ${JSON.stringify(repository)} ${where} is not valid`);
  }
  return repository;
}

/**
 * The first line of a values.yaml whose image repository DAG left unset, so whoever reads the
 * IAC folder learns why.
 */
export const NO_IMAGE_REPOSITORY_NOTE =
  "# DAG set image.tag only: neither the app's image_repository nor its values name an\n" +
  '# image.repository, and DAG derives one only for github.com and gitlab.com repositories.\n';
