/**
 * Names for environments whose rows carry none (the seed's inserts do not): the name people
 * type (`/diff staging`) and GitHub shows as the deployment environment.
 */
const ENVIRONMENT_WORDS = new Set([
  'production',
  'prod',
  'staging',
  'stage',
  'development',
  'dev',
  'qa',
  'test',
  'testing',
  'uat',
  'preview',
  'sandbox',
  'nonprod',
  'preprod',
  'live',
  'demo',
  'integration',
  'canary',
]);

export function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 63)
    .replace(/[^a-z0-9]+$/, '');
}

export type NamingInput = {
  id: number;
  branch: string;
  iacPath: string;
  helmName: string | null;
  helmNamespace: string | null;
  appName: string;
};

/** The name this environment would have, before any clash with its app's other names. */
export function baseEnvironmentName(env: NamingInput): string {
  const segments = env.iacPath.split('/').filter(Boolean);
  // 1. A folder that names an environment: clusters/staging/my-app -> staging.
  for (let i = segments.length - 1; i >= 0; i--) {
    const segment = (segments[i] as string).toLowerCase();
    if (ENVIRONMENT_WORDS.has(segment)) return segment;
  }
  // 2. A branch that names one.
  if (ENVIRONMENT_WORDS.has(env.branch.toLowerCase())) return env.branch.toLowerCase();
  // 3. The deepest folder that is not the app's own name: envs/eu-west/my-app -> eu-west.
  const own = new Set([env.helmName, env.helmNamespace, env.appName].filter(Boolean));
  for (let i = segments.length - 1; i >= 0; i--) {
    const candidate = slug(segments[i] as string);
    if (candidate && !own.has(candidate)) return candidate;
  }
  // 4. The branch.
  return slug(env.branch) || `env-${env.id}`;
}

/** A name unique among `taken`: the base name, else with the branch, else with the row id. */
export function uniqueEnvironmentName(env: NamingInput, taken: ReadonlySet<string>): string {
  const base = baseEnvironmentName(env);
  const candidates = [base, slug(`${base}-${env.branch}`), slug(`${base}-${env.id}`)];
  return candidates.find((c) => c && !taken.has(c)) ?? `env-${env.id}`;
}
