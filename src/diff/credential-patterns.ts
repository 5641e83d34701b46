/**
 * What looks like a credential: by the name of the key that holds a value, and by the shape of
 * the value itself (tokens with well-known prefixes, JWTs, PEM blocks, URLs with a password,
 * `password=...` assignments inside configuration text). Pure and side-effect free; the maskers
 * in `masking.ts` and `mask-text.ts` decide what to replace the matches with.
 */

/** A masked value already starts with this; maskers leave such values alone. */
export const MASK_PREFIX = '***';

/** Key words that make a key a credential wherever they appear in it (`dbPassword`, `API_KEY`). */
const ANYWHERE = [
  'password',
  'passwd',
  'passphrase',
  'credential',
  'apikey',
  'accesskey',
  'privatekey',
  'secretkey',
  'clientsecret',
  'connectionstring',
  'connstring',
  'connstr',
  'accesstoken',
  'refreshtoken',
  'authtoken',
  'bearertoken',
  'sessionkey',
  'signingkey',
  'encryptionkey',
  'masterkey',
  'secretid',
  // Azure storage and Service Bus connection strings: `AccountKey=...`, `SharedAccessSignature=`.
  'accountkey',
  'sharedaccesssignature',
  // A registry login (`.dockerconfigjson`, `.dockercfg`), whole.
  'dockerconfigjson',
  'dockercfg',
] as const;

/** Words that make a key a credential only as its last word (`JWT_SECRET`, but not `secretName`). */
const LAST_WORD = new Set([
  'secret',
  'secrets',
  'token',
  'tokens',
  'auth',
  'authorization',
  'pwd',
  'pass',
  'pw',
  'dsn',
  'cookie',
  'htpasswd',
  // The signature of an Azure SAS URL (`?sv=...&sig=...`).
  'sig',
]);

/** Last words of a credential key that names a group of credentials (`secrets`, `apiKeys`). */
const GROUP_LAST_WORD = new Set(['secrets', 'tokens', 'credentials', 'creds', 'passwords', 'keys']);

/** Last words that make a key describe a credential rather than hold one (`passwordFile`). */
const DESCRIPTIVE_LAST_WORD = new Set([
  'name',
  'names',
  'ref',
  'refs',
  'path',
  'paths',
  'file',
  'files',
  'dir',
  'mount',
  'url',
  'uri',
  'endpoint',
  'type',
  'kind',
  'length',
  'size',
  'policy',
  'enabled',
  'enable',
  'disabled',
  'mode',
  'ttl',
  'expiry',
  'expiration',
  'seconds',
  'timeout',
  'duration',
  'format',
  'header',
  'field',
  'version',
  'rotation',
]);

/** Splits `dbPassword`, `DB_PASSWORD`, `x-api-key`, `db.password` into lowercase words. */
export function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word !== '');
}

const keyCache = new Map<string, boolean>();

/**
 * Whether a key's value is a credential: `password`, `DB_PASSWORD`, `apiKey`, `aws_access_key_id`,
 * `clientSecret`, `GITHUB_TOKEN`, `basicAuth`, `SENTRY_DSN`, `connection_string`... but not
 * `secretName`, `passwordFile`, `tokenUrl`, `existingSecret` (those name or locate one).
 */
export function isCredentialKey(key: string): boolean {
  const cached = keyCache.get(key);
  if (cached !== undefined) return cached;
  const result = classifyKey(key);
  if (keyCache.size > 10_000) keyCache.clear();
  keyCache.set(key, result);
  return result;
}

/**
 * Whether a key holds a group of credentials under names of their own (`secrets`, `apiKeys`,
 * `gcpCredentials`): every value under it is one, whatever its key.
 */
export function isCredentialGroupKey(key: string): boolean {
  return isCredentialKey(key) && GROUP_LAST_WORD.has(keyWords(key).at(-1) ?? '');
}

/** Whether a key names, locates or configures a value rather than holding it (`secretName`). */
export function isDescriptiveKey(key: string): boolean {
  const words = keyWords(key);
  const last = words.at(-1);
  return last !== undefined && (DESCRIPTIVE_LAST_WORD.has(last) || words.includes('existing'));
}

function classifyKey(key: string): boolean {
  if (key.length > 200) return false;
  const words = keyWords(key);
  const last = words.at(-1);
  if (last === undefined) return false;
  if (DESCRIPTIVE_LAST_WORD.has(last) || words.includes('existing')) return false;
  if (LAST_WORD.has(last)) return true;
  const joined = words.join('');
  return ANYWHERE.some((word) => joined.includes(word));
}

/** A half-open range [start, end) of a string. */
export type Range = { start: number; end: number };

/**
 * Secrets recognisable by their shape alone, wherever they appear, as one alternation (one scan
 * per string):
 * - JSON Web Tokens: base64url header and payload, both JSON objects ("eyJ" = '{"');
 * - GitHub tokens, classic (ghp_, gho_, ghu_, ghs_, ghr_) and fine-grained (github_pat_);
 * - GitLab tokens: personal, deploy, runner, CI job, trigger, feed, OAuth, SCIM...;
 * - Slack tokens; AWS access key ids; Google API keys; Stripe live keys; `sk-` API keys; npm;
 * - DAG's own API tokens (`dag_` and 49 base62 characters: src/api/token.ts), whole or cut short;
 * - HTTP credentials after `Bearer ` or `Basic `.
 * None is shorter than MIN_BARE_SECRET_CHARS: a shorter shape must lower it.
 */
const TOKEN_SHAPES = new RegExp(
  [
    String.raw`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`,
    String.raw`\bgh[pousr]_[A-Za-z0-9]{20,}`,
    String.raw`\bgithub_pat_[A-Za-z0-9_]{20,}`,
    String.raw`\bgl(?:pat|dt|rt|cbt|ptt|ft|imt|oas|soat|agent|ffct|sat)-[A-Za-z0-9_-]{16,}`,
    String.raw`\bxox[abposre]-[A-Za-z0-9-]{10,}`,
    String.raw`\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b`,
    String.raw`\bAIza[0-9A-Za-z_-]{35}`,
    String.raw`\b[sr]k_live_[0-9A-Za-z]{16,}`,
    String.raw`\bsk-[A-Za-z0-9_-]{20,}`,
    String.raw`\bnpm_[A-Za-z0-9]{36}`,
    String.raw`\bdag_[A-Za-z0-9]{30,}`,
    String.raw`\b(?:[Bb]earer|BEARER|[Bb]asic|BASIC)[ \t]+([A-Za-z0-9._~+/-]{12,}=*)`,
  ].join('|'),
  'g',
);

/** A PEM block, whole: `-----BEGIN RSA PRIVATE KEY-----` ... `-----END RSA PRIVATE KEY-----`. */
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]{1,64})-----[\s\S]*?(?:-----END \1-----|$)/g;
/** A PEM header line alone (a diff may show only part of a block). */
export const PEM_BEGIN = /-----BEGIN [A-Z0-9 ]{1,64}-----/;
export const PEM_END = /-----END [A-Z0-9 ]{1,64}-----/;

/** The user-info of a URL with a password (`postgres://app:s3cret@db`), or a long bare token. */
const URL_USERINFO =
  /\b[A-Za-z][A-Za-z0-9+.-]{1,20}:\/\/([^\s/@:?#'"]*:[^\s/@?#'"]+|[^\s/@:?#'"]{20,})@/g;

/**
 * `key = value`, `key: value`, `"key": "value"`, `--key=value` inside configuration text. Only
 * the key and separator are matched; the value is scanned by hand (quoted, or to a delimiter).
 */
const ASSIGNMENT =
  /(?<![A-Za-z0-9_.])(?<![A-Za-z0-9_.]-)([A-Za-z_][A-Za-z0-9_.-]{0,100})(["']?)[ \t]*(=|:(?=[ \t"']|$))/gm;

/**
 * `name: DB_PASSWORD` followed by `value: ...` (the next line of a YAML list item, or the next
 * member of a JSON or flow mapping): an env entry written inside text, such as a chart's
 * `extraEnv: |` block or a ConfigMap's config file. Only the part up to `value:` is matched.
 */
const NAMED_VALUE =
  /(?<![A-Za-z0-9_])(["']?)(?:name|key)\1[ \t]*[:=][ \t]*(["']?)([A-Za-z_][A-Za-z0-9_.-]{0,100})\2[ \t]*,?[ \t]*(?:\r?\n[ \t]*)?(["']?)value\4[ \t]*:/g;

/** The password of a Go database DSN: `app:s3cret@tcp(db:3306)/app`. */
const GO_DSN = /(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]{1,100}:([^\s@/:'"]{1,200})@(?:tcp|udp|unix)\(/dg;

/**
 * A run of base64 long enough to hold a credential (a `.dockerconfigjson`, a service account
 * key, a `user:password` pair): decoded, and masked whole when the text in it holds a secret.
 */
const BASE64_RUN = /(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=_-])/g;

/** Printable text (what a base64 run must decode to for it to be scanned). */
// eslint-disable-next-line no-control-regex
const NOT_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/;

/** Placeholders that stand for a value rather than being one: `${DB_PASSWORD}`, `{{ .token }}`. */
const PLACEHOLDER =
  /^(?:\$\{[^}]*\}|\$\([^)]*\)|\{\{[^}]*\}\}|<[^>]*>|%\([^)]*\)s|\*+|null|none|~|changeme)$/i;

/** Whether a whole value is a credential by its shape (a token, a JWT, a PEM block...). */
export function looksLikeCredential(value: string): boolean {
  return findSecretRanges(value).length > 0;
}

/**
 * The parts of `text` that are secrets: tokens and JWTs, PEM blocks, passwords in URLs and DSNs,
 * the values of credential-named assignments and of `name: DB_PASSWORD` / `value: ...` pairs, and
 * base64 runs that decode to text holding any of these. Sorted, non-overlapping.
 */
export function findSecretRanges(text: string): Range[] {
  return scan(text, true);
}

/**
 * `findSecretRanges` of the two sides of a changed text at once. A line both hold is scanned once
 * for the patterns that never span a line break (`withinLine`), which is what a scan of the
 * whole text finds on that line: the sides of a changed config file differ in a few lines.
 */
export function findSecretRangesPair(a: string, b: string): [Range[], Range[]] {
  // A backslash ending a line may escape the line break inside a double-quoted value, which then
  // goes on past it: only a scan of the whole text sees where it ends.
  const whole = (text: string) => !text.includes('\n') || text.includes('\\\n');
  if (a.length < 6 || b.length < 6 || whole(a) || whole(b)) {
    return [findSecretRanges(a), findSecretRanges(b)];
  }
  // b, whole; each of its lines with what was found on it.
  const within = withinLine(b, true).sort((x, y) => x.start - y.start);
  const seen = new Map<string, Range[]>();
  let next = 0;
  forEachLine(b, (start, end) => {
    const found: Range[] = [];
    while (next < within.length && within[next]!.start < end) {
      const range = within[next++]!;
      found.push({ start: range.start - start, end: range.end - start });
    }
    seen.set(b.slice(start, end), found);
  });
  const rangesB = mergeRanges([...acrossLines(b), ...within]);
  // a, a line at a time: what b's same line held, or a scan of the line.
  const rangesA = acrossLines(a);
  forEachLine(a, (start, end) => {
    const line = a.slice(start, end);
    for (const range of seen.get(line) ?? withinLine(line, true)) {
      rangesA.push({ start: start + range.start, end: start + range.end });
    }
  });
  return [mergeRanges(rangesA), rangesB];
}

function forEachLine(text: string, each: (start: number, end: number) => void): void {
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    each(start, end);
    start = end + 1;
  }
}

/** `decode`: also look inside base64 runs (one level deep: not inside what they decode to). */
function scan(text: string, decode: boolean): Range[] {
  if (text.length < 6 || cannotHold(text)) return [];
  return mergeRanges([...acrossLines(text), ...withinLine(text, decode)]);
}

/**
 * The fewest characters of a secret no `:` or `=` goes with: a token shape (the shortest,
 * `xoxb-` and ten more, is 15 long; every other is longer), a PEM header (17) or a base64 run
 * (24). Every other pattern (assignments, URLs, DSNs, `name`/`value` pairs) needs a `:` or `=`.
 */
export const MIN_BARE_SECRET_CHARS = 15;

/**
 * A text too short for a bare secret, without a `:` or `=`: no pattern can match in it. Most of an
 * object's strings (names, labels, images without a tag, enum values) are such texts.
 */
function cannotHold(text: string): boolean {
  return text.length < MIN_BARE_SECRET_CHARS && !text.includes(':') && !text.includes('=');
}

/** The secrets whose pattern may span lines: PEM blocks, `name: X` / `value: y` pairs. */
function acrossLines(text: string): Range[] {
  const ranges: Range[] = [];
  if (text.includes('-----BEGIN ')) {
    for (const match of matches(PEM_BLOCK, text)) {
      ranges.push({ start: match.index, end: match.index + match[0].length });
    }
  }
  if (text.includes('value') && (text.includes('=') || text.includes(':'))) {
    for (const match of matches(NAMED_VALUE, text)) {
      if (!isCredentialKey(match[3] ?? '')) continue;
      const range = assignedValue(text, match.index + match[0].length, false);
      if (range) ranges.push(range);
    }
  }
  return ranges;
}

/**
 * The secrets whose pattern never spans a line break (tokens, URL passwords, assignments, DSNs,
 * base64 runs), unmerged: in a text of many lines, what a scan of each line alone finds.
 */
function withinLine(text: string, decode: boolean): Range[] {
  const ranges: Range[] = [];
  if (cannotHold(text)) return ranges;
  for (const match of matches(TOKEN_SHAPES, text)) {
    // The `Bearer <token>` alternative captures the token alone.
    const secret = match[1] ?? match[0];
    const end = match.index + match[0].length;
    ranges.push({ start: end - secret.length, end });
  }
  if (text.includes('://')) {
    for (const match of matches(URL_USERINFO, text)) {
      const userinfo = match[1] ?? '';
      const start = match.index + match[0].length - 1 - userinfo.length;
      ranges.push({ start, end: start + userinfo.length });
    }
  }
  if (text.includes('=') || text.includes(':')) {
    ASSIGNMENT.lastIndex = 0;
    for (let match = ASSIGNMENT.exec(text); match !== null; match = ASSIGNMENT.exec(text)) {
      const [whole, key = '', , separator] = match;
      if (!isCredentialKey(key)) continue;
      const range = assignedValue(text, match.index + whole.length, separator === '=');
      if (range) {
        ranges.push(range);
        // Go on after the value: `password: password: ...` must not rescan the rest each time.
        ASSIGNMENT.lastIndex = Math.max(ASSIGNMENT.lastIndex, range.end);
      }
    }
    ASSIGNMENT.lastIndex = 0;
    if (text.includes('@')) {
      for (const match of matches(GO_DSN, text)) {
        const password = match.indices?.[1];
        if (password) ranges.push({ start: password[0], end: password[1] });
      }
    }
  }
  if (decode && text.length >= 24) {
    for (const match of matches(BASE64_RUN, text)) {
      if (match[0].length % 4 !== 0 || match[0].length > 1_000_000) continue;
      const decoded = Buffer.from(match[0], 'base64').toString('utf8');
      if (NOT_TEXT.test(decoded) || scan(decoded, false).length === 0) continue;
      ranges.push({ start: match.index, end: match.index + match[0].length });
    }
  }
  return ranges;
}

/**
 * Every match of a global regex, collected eagerly. (`String.prototype.matchAll` clones the
 * regex on each call, which costs more than the scan on the many short strings of an object.)
 */
function matches(regex: RegExp, text: string): RegExpExecArray[] {
  const found: RegExpExecArray[] = [];
  regex.lastIndex = 0;
  for (let match = regex.exec(text); match !== null; match = regex.exec(text)) {
    found.push(match);
    if (match[0] === '') regex.lastIndex++;
  }
  regex.lastIndex = 0;
  return found;
}

/**
 * The value after an assignment's separator: a quoted string, or up to the end of the line
 * (`key: value`, `Authorization: Bearer x`) or, after `=`, to the next space, `&` or `;`
 * (`--token=x --user=y`, `a=1&password=x`, `Server=db;Password=x;`).
 */
function assignedValue(text: string, from: number, equals: boolean): Range | null {
  let start = from;
  while (text[start] === ' ' || text[start] === '\t') start++;
  const quote = text[start];
  let end: number;
  if (quote === '"' || quote === "'") {
    start++;
    end = start;
    while (end < text.length && text[end] !== quote && text[end] !== '\n') {
      end += text[end] === '\\' && quote === '"' ? 2 : 1;
    }
    end = Math.min(end, text.length);
  } else {
    end = start;
    const stop = equals ? /[\s&;,]/ : /[\n\r]/;
    while (end < text.length && !stop.test(text[end] ?? '')) end++;
    // A ` # comment` and trailing spaces or `,` (JSON) are not part of the value. (Loops, not
    // regexes: `/[\s,]+$/` is quadratic on long runs inside a hostile value.)
    const comment = /\s#/.exec(text.slice(start, end));
    if (comment) end = start + comment.index;
    while (end > start && /[\s,]/.test(text[end - 1] ?? '')) end--;
  }
  const value = text.slice(start, end);
  if (value === '' || value.startsWith(MASK_PREFIX) || PLACEHOLDER.test(value.trim())) return null;
  // A YAML block scalar indicator or a nested mapping start holds no value on this line.
  if (!equals && /^[|>][-+0-9]*$|^[{[&]$/.test(value)) return null;
  return { start, end };
}

function mergeRanges(ranges: Range[]): Range[] {
  if (ranges.length <= 1) return ranges;
  ranges.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: Range[] = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/** `text` with each range replaced by `replacement(secret)`. */
export function replaceRanges(
  text: string,
  ranges: readonly Range[],
  replacement: (secret: string) => string,
): string {
  if (ranges.length === 0) return text;
  let out = '';
  let at = 0;
  for (const { start, end } of ranges) {
    out += text.slice(at, start) + replacement(text.slice(start, end));
    at = end;
  }
  return out + text.slice(at);
}
