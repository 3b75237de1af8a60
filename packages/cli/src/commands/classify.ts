import { classify } from '@posture/core';
import { CliError, readAll, type Register } from '../io.js';

type Tool = Parameters<typeof classify>[0];

export const registerClassify: Register = (program, io) => {
  program
    .command('classify')
    .description('classify the tools of an MCP `tools/list` result by access, tier and irreversibility')
    .argument(
      '[file]',
      'a `tools/list` result as JSON (`{"tools": [...]}`); `-` or none reads standard input',
    )
    .option('--json', 'print a JSON array of classifications instead of catalog entries')
    .addHelpText(
      'after',
      '\nThe default output is one catalog entry per tool, to paste under `servers.<name>.tools` in posture.yaml.',
    )
    .action(async (file: string | undefined, options: { json?: boolean }) => {
      const stdin = file === undefined || file === '-';
      const source = stdin ? 'standard input' : quote(file);
      let text: string;
      try {
        text = stdin ? await readAll(io.stdin()) : await io.readFile(file);
      } catch (error) {
        throw new CliError(
          `cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        );
      }
      const results = parseTools(text, source).map((tool) => ({ name: tool.name, ...classify(tool) }));
      const output = options.json
        ? `${JSON.stringify(results, null, 2)}\n`
        : results.length === 0
          ? `# no tools in ${source}\n`
          : catalogEntries(results);
      if (!io.stdout(output)) await io.drain();
    });
};

/** One line per tool: `name: { tier, access, irreversible }  # reasons`, aligned. */
function catalogEntries(results: ReadonlyArray<{ name: string } & ReturnType<typeof classify>>): string {
  const entries = results.map(
    (r) => `${yamlKey(r.name)}: { tier: ${r.tier}, access: ${r.access}, irreversible: ${r.irreversible} }`,
  );
  const width = Math.min(80, Math.max(...entries.map((e) => e.length)));
  return results
    .map((r, i) => {
      const why = r.reasons.map((reason) => `${reason.code}: ${reason.message}`).join('; ');
      return `${(entries[i] ?? '').padEnd(width)}  # ${printable(why)}\n`;
    })
    .join('');
}

/** Reads a `tools/list` result, bare or inside a JSON-RPC response (`{"result": {"tools": [...]}}`). */
function parseTools(text: string, source: string): Tool[] {
  const json = text.startsWith('\uFEFF') ? text.slice(1) : text;
  let root: unknown;
  try {
    root = JSON.parse(json);
  } catch {
    throw new CliError(`${source} is not valid JSON: ${describeJsonError(json)}`);
  }
  const list = isRecord(root)
    ? 'tools' in root
      ? root.tools
      : isRecord(root.result)
        ? root.result.tools
        : undefined
    : undefined;
  if (!Array.isArray(list)) {
    throw new CliError(
      `${source} has no \`tools\` array: expected a \`tools/list\` result such as {"tools": [...]}`,
    );
  }
  const seen = new Map<string, number>();
  return list.map((tool: unknown, i): Tool => {
    if (!isRecord(tool)) throw new CliError(`\`tools[${i}]\` in ${source} is not an object`);
    if (typeof tool.name !== 'string' || tool.name === '') {
      throw new CliError(`\`tools[${i}]\` in ${source} has no \`name\` string`);
    }
    const first = seen.get(tool.name);
    if (first !== undefined) {
      throw new CliError(
        `\`tools[${i}]\` in ${source} repeats the name ${quote(tool.name)} of \`tools[${first}]\``,
      );
    }
    seen.set(tool.name, i);
    return tool as unknown as Tool;
  });
}

/** Where a JSON text first breaks the grammar, as "unexpected `x` at line 3, column 14". */
function describeJsonError(text: string): string {
  const offset = jsonErrorOffset(text);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  const what = offset >= text.length ? 'unexpected end of input' : `unexpected ${quote(text[offset] ?? '')}`;
  return `${what} at line ${line}, column ${column}`;
}

/** The offset of the first syntax error in a JSON text (its length when the text ends too early). */
function jsonErrorOffset(text: string): number {
  let i = 0;
  const closers: string[] = [];
  let state: 'value' | 'first-value' | 'key' | 'first-key' | 'after' = 'value';
  const skipSpace = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] ?? '')) i++;
  };
  const string = (): boolean => {
    for (let j = i + 1; j < text.length; j++) {
      const c = text[j] ?? '';
      if (c === '"') {
        i = j + 1;
        return true;
      }
      if (c < ' ') {
        i = j;
        return false;
      }
      if (c === '\\') {
        const escape = text[j + 1] ?? '';
        if (escape === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(j + 2, j + 6))) j += 5;
        else if ('"\\/bfnrt'.includes(escape) && escape !== '') j += 1;
        else {
          i = j + 1;
          return false;
        }
      }
    }
    i = text.length;
    return false;
  };
  for (;;) {
    skipSpace();
    if (i >= text.length) return i;
    const c = text[i];
    if (state === 'after') {
      const closer = closers.at(-1);
      if (closer === undefined) return i; // text after the value
      if (c === ',') state = closer === '}' ? 'key' : 'value';
      else if (c === closer) closers.pop();
      else return i;
      i++;
    } else if (state === 'key' || state === 'first-key') {
      if (state === 'first-key' && c === '}') {
        closers.pop();
        i++;
        state = 'after';
        continue;
      }
      if (c !== '"' || !string()) return i;
      skipSpace();
      if (text[i] !== ':') return i;
      i++;
      state = 'value';
    } else {
      if (state === 'first-value' && c === ']') {
        closers.pop();
        i++;
        state = 'after';
        continue;
      }
      if (c === '{' || c === '[') {
        closers.push(c === '{' ? '}' : ']');
        i++;
        state = c === '{' ? 'first-key' : 'first-value';
        continue;
      }
      if (c === '"') {
        if (!string()) return i;
      } else {
        const literal = /true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
        literal.lastIndex = i;
        const match = literal.exec(text);
        if (match === null) return i;
        i += match[0].length;
      }
      state = 'after';
    }
  }
}

/** A tool name as a YAML key: plain when safe, else double-quoted with escapes. */
function yamlKey(name: string): string {
  const plain =
    /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(name);
  return plain ? name : quoteJson(name);
}

function quote(value: string): string {
  return `\`${printable(value.length > 64 ? `${value.slice(0, 63)}…` : value)}\``;
}

/** A double-quoted string (valid JSON and YAML) with every non-ASCII character escaped. */
function quoteJson(value: string): string {
  return JSON.stringify(value).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

// Control, invisible and bidirectional characters: untrusted text must not rewrite a terminal line.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
