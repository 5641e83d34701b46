import { createHash } from 'node:crypto';
import { z } from 'zod';
import { isPlainObject } from '../render/plain-object.ts';
import { MAX_VALUES_BYTES } from '../render/yaml.ts';

/**
 * Caps of a fix proposal's body. A body over `bodyBytes` is refused (413) before it is parsed;
 * every other cap is checked by validateProposal and answered with 413 naming the field.
 */
export const PROPOSAL_LIMITS = {
  /** The whole JSON body, as received. */
  bodyBytes: 2 * 1024 * 1024,
  /** Names in a target: DNS-1123 names and DAG's app and environment names fit. */
  nameChars: 253,
  /** A repository path in a change. */
  pathChars: 512,
  /** Files of a `files` change, and files a `diff` change touches. */
  files: 20,
  /** One file's content, and one changed file after the change: a values file's own limit. */
  fileBytes: MAX_VALUES_BYTES,
  /** All files of a `files` change together. */
  filesTotalBytes: MAX_VALUES_BYTES,
  /** A unified diff. */
  diffBytes: 512 * 1024,
  /** A values patch, as JSON. */
  patchBytes: 64 * 1024,
  /** Nesting of a values patch. */
  patchDepth: 32,
  titleChars: 120,
  rationaleChars: 10_000,
  evidenceItems: 20,
  evidenceItemChars: 4_000,
  evidenceTotalChars: 20_000,
  agentChars: 100,
} as const;

/** Statuses a proposal is refused with: malformed (400), too large (413). */
export type ProposalStatus = 400 | 413;

export type FieldError = { field: string; message: string };

const L = PROPOSAL_LIMITS;

/** Text on one line: no line breaks or other control characters. */
const oneLine = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => s.trim() !== '', 'must not be empty')
    .refine((s) => !/\p{Cc}/u.test(s), 'must be one line without control characters');

const name = oneLine(L.nameChars);

export const AppTargetSchema = z.strictObject({ app: name, environment: name });
export const WorkloadTargetSchema = z.strictObject({
  cluster: name,
  namespace: name,
  kind: name,
  name,
});
export const TargetSchema = z.union([AppTargetSchema, WorkloadTargetSchema]);

/** A well-formed string (no lone surrogate): it has a UTF-8 encoding. */
const utf8 = (schema: z.ZodString) =>
  schema.refine((s) => s.isWellFormed(), 'is not valid Unicode (it has no UTF-8 encoding)');

/** At most `max` bytes as UTF-8: a cap (413), not a malformed value. */
const maxBytes = (schema: z.ZodType<string>, max: number) =>
  schema.superRefine((s, ctx) => {
    const bytes = Buffer.byteLength(s, 'utf8');
    if (bytes > max) {
      ctx.addIssue({
        code: 'too_big',
        origin: 'string',
        maximum: max,
        message: `is ${bytes} bytes; the limit is ${max}`,
      });
    }
  });

const path = utf8(z.string().min(1).max(L.pathChars));
/** Says the change is meant to reach every environment (base values or the app's chart). */
const base = z.boolean().optional();
/**
 * The repository a `files` or `diff` change is made in: the app repository (the default), or
 * the environment's IAC repository, outside every folder DAG renders.
 */
const repository = z.enum(['app', 'iac']).optional();

const ValuesPatchSchema = z.strictObject({
  kind: z.literal('values-patch'),
  patch: z.record(z.string(), z.json()).superRefine((patch, ctx) => {
    const bytes = Buffer.byteLength(JSON.stringify(patch), 'utf8');
    if (bytes > L.patchBytes) {
      ctx.addIssue({
        code: 'too_big',
        origin: 'string',
        maximum: L.patchBytes,
        message: `is ${bytes} bytes as JSON; the limit is ${L.patchBytes}`,
      });
    }
    const depth = depthOf(patch);
    if (depth > L.patchDepth) {
      ctx.addIssue({
        code: 'too_big',
        origin: 'array',
        maximum: L.patchDepth,
        message: `nests ${depth} levels deep; the limit is ${L.patchDepth}`,
      });
    }
  }),
  base,
});

const FilesChangeSchema = z.strictObject({
  kind: z.literal('files'),
  files: z
    .array(
      z.strictObject({
        path,
        content: maxBytes(utf8(z.string()), L.fileBytes),
      }),
    )
    .min(1)
    .max(L.files)
    .superRefine((files, ctx) => {
      const seen = new Set<string>();
      files.forEach((file, index) => {
        if (seen.has(file.path)) {
          ctx.addIssue({
            code: 'custom',
            path: [index, 'path'],
            message: `${JSON.stringify(file.path)} is given twice`,
          });
        }
        seen.add(file.path);
      });
      const bytes = files.reduce((n, f) => n + Buffer.byteLength(f.content, 'utf8'), 0);
      if (bytes > L.filesTotalBytes) {
        ctx.addIssue({
          code: 'too_big',
          origin: 'string',
          maximum: L.filesTotalBytes,
          message: `hold ${bytes} bytes together; the limit is ${L.filesTotalBytes}`,
        });
      }
    }),
  base,
  repository,
});

const DiffChangeSchema = z.strictObject({
  kind: z.literal('diff'),
  diff: maxBytes(utf8(z.string().min(1)), L.diffBytes),
  base,
  repository,
});

export const ChangeSchema = z.discriminatedUnion('kind', [
  ValuesPatchSchema,
  FilesChangeSchema,
  DiffChangeSchema,
]);

export const EVIDENCE_KINDS = ['event', 'log', 'metric', 'other'] as const;

export const ProposalSchema = z.strictObject({
  target: TargetSchema,
  change: ChangeSchema,
  title: oneLine(L.titleChars),
  rationale: z
    .string()
    .max(L.rationaleChars)
    .refine((s) => s.trim() !== '', 'must not be empty'),
  evidence: z
    .array(
      z.strictObject({ kind: z.enum(EVIDENCE_KINDS), text: z.string().max(L.evidenceItemChars) }),
    )
    .max(L.evidenceItems)
    .default([])
    .superRefine((items, ctx) => {
      const chars = items.reduce((n, item) => n + item.text.length, 0);
      if (chars > L.evidenceTotalChars) {
        ctx.addIssue({
          code: 'too_big',
          origin: 'string',
          maximum: L.evidenceTotalChars,
          message: `holds ${chars} characters together; the limit is ${L.evidenceTotalChars}`,
        });
      }
    }),
  agent: z.strictObject({ name: oneLine(L.agentChars), model: oneLine(L.agentChars) }),
});

export type Proposal = z.infer<typeof ProposalSchema>;
export type ProposalTarget = Proposal['target'];
export type AppTarget = z.infer<typeof AppTargetSchema>;
export type WorkloadTarget = z.infer<typeof WorkloadTargetSchema>;
export type ProposalChange = Proposal['change'];

/** The repository a change is made in: `app` unless a files or diff change says `iac`. */
export function changeRepository(change: ProposalChange): 'app' | 'iac' {
  return change.kind !== 'values-patch' && change.repository === 'iac' ? 'iac' : 'app';
}

export type ProposalValidation =
  { ok: true; proposal: Proposal } | { ok: false; status: ProposalStatus; errors: FieldError[] };

/**
 * A proposal body, already parsed from JSON of at most `bodyBytes`, checked against the schema.
 * Every problem is named by its field (`change.files[1].path`); the status is 413 when any is a
 * cap exceeded, else 400. Unknown keys are refused, at any depth.
 */
export function validateProposal(body: unknown): ProposalValidation {
  const parsed = ProposalSchema.safeParse(body);
  if (parsed.success) return { ok: true, proposal: parsed.data };
  const issues = parsed.error.issues.flatMap((issue) =>
    issue.code === 'invalid_union' && fieldOf(issue.path) === 'target'
      ? targetIssues((body as { target?: unknown }).target)
      : [issue],
  );
  const errors = issues.flatMap(toFieldErrors);
  const tooBig = issues.some((issue) => issue.code === 'too_big');
  return { ok: false, status: tooBig ? 413 : 400, errors };
}

/**
 * A target is told by its keys: `app`/`environment` for a DAG environment, else a workload.
 * zod's union would report both shapes' problems; this reports the intended one's.
 */
function targetIssues(target: unknown): z.core.$ZodIssue[] {
  const appShaped = isPlainObject(target) && ('app' in target || 'environment' in target);
  const schema = appShaped ? AppTargetSchema : WorkloadTargetSchema;
  const result = schema.safeParse(target);
  if (result.success) return [];
  return result.error.issues.map((issue) => ({ ...issue, path: ['target', ...issue.path] }));
}

function toFieldErrors(issue: z.core.$ZodIssue): FieldError[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      field: fieldOf([...issue.path, key]),
      message: 'is not a known field',
    }));
  }
  if (issue.code === 'invalid_union' && 'discriminator' in issue && issue.discriminator) {
    const path = issue.path.at(-1) === issue.discriminator ? issue.path : [...issue.path, 'kind'];
    return [{ field: fieldOf(path), message: 'must be one of values-patch, files, diff' }];
  }
  if (issue.code === 'invalid_type' && / received undefined$/.test(issue.message)) {
    return [{ field: fieldOf(issue.path), message: 'is required' }];
  }
  return [{ field: fieldOf(issue.path) || '(body)', message: issue.message }];
}

/** `change.files[1].path` from a zod path. */
export function fieldOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (isPlainObject(value)) return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  return 0;
}

/**
 * A stable fingerprint of what a proposal asks for: its target and change, not its words or
 * evidence. The same change proposed twice (keys in any order, files in any order) has the same
 * fingerprint, so it becomes one pull request. Hex SHA-256 of canonical JSON.
 */
export function proposalFingerprint(proposal: Pick<Proposal, 'target' | 'change'>): string {
  const change =
    proposal.change.kind === 'files'
      ? {
          ...proposal.change,
          files: [...proposal.change.files].sort((a, b) => (a.path < b.path ? -1 : 1)),
        }
      : proposal.change;
  // `repository: 'app'` is the default: said or not, the same change.
  const repository = changeRepository(proposal.change) === 'iac' ? 'iac' : undefined;
  const canonical = canonicalJson({
    target: proposal.target,
    change: { ...change, base: change.base === true, repository },
  });
  return createHash('sha256').update(canonical).digest('hex');
}

/** JSON with object keys sorted at every depth. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isPlainObject(value)) {
    const keys = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
