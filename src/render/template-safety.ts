/** Helpers whose output is safe to place in YAML: they quote or serialize the value. */
export const SAFE_YAML_EMITTERS: ReadonlySet<string> = new Set(['yaml', 'json', 'indent']);

export type TemplateProblem = { line: number; message: string };

/**
 * The first place where a YAML template would splice a value raw, or null when there is none.
 * In a YAML template every `{{...}}` must be `{{yaml x}}`, `{{json x}}` or `{{indent n x}}`, so a
 * value like `"x\nevil: true"` is emitted as a quoted scalar and can never become a key.
 * Partials and decorators are refused too: they are not registered and would bypass the check.
 */
export function findRawSplice(program: hbs.AST.Program): TemplateProblem | null {
  for (const statement of program.body) {
    const problem = checkStatement(statement);
    if (problem) return problem;
  }
  return null;
}

function checkStatement(node: hbs.AST.Statement): TemplateProblem | null {
  const line = node.loc.start.line;
  switch (node.type) {
    case 'ContentStatement':
    case 'CommentStatement':
      return null;
    case 'MustacheStatement': {
      const mustache = node as hbs.AST.MustacheStatement;
      const name =
        mustache.path.type === 'PathExpression'
          ? (mustache.path as hbs.AST.PathExpression).original
          : undefined;
      if (name !== undefined && SAFE_YAML_EMITTERS.has(name) && mustache.params.length > 0) {
        return null;
      }
      const shown = name ?? String((mustache.path as { original?: unknown }).original);
      return {
        line,
        message: `{{${shown}${mustache.params.length > 0 ? ' ...' : ''}}} splices a value raw into YAML; write {{yaml ${name ?? 'value'}}} (or json/indent) instead`,
      };
    }
    case 'BlockStatement': {
      const block = node as hbs.AST.BlockStatement;
      return findRawSplice(block.program) ?? (block.inverse ? findRawSplice(block.inverse) : null);
    }
    default:
      return { line, message: `${node.type} is not allowed in a YAML template` };
  }
}

/** The first line where a template names `field` in a path (`{{yaml a.field}}`), or null. */
export function findFieldLine(program: hbs.AST.Program, field: string): number | null {
  let line: number | null = null;
  const visit = (node: unknown): void => {
    if (line !== null || typeof node !== 'object' || node === null) return;
    const candidate = node as { type?: unknown; parts?: unknown; loc?: hbs.AST.SourceLocation };
    if (
      candidate.type === 'PathExpression' &&
      Array.isArray(candidate.parts) &&
      candidate.parts.includes(field) &&
      candidate.loc
    ) {
      line = candidate.loc.start.line;
      return;
    }
    for (const [key, child] of Object.entries(node)) {
      if (key === 'loc') continue;
      if (Array.isArray(child)) child.forEach(visit);
      else visit(child);
    }
  };
  visit(program);
  return line;
}
