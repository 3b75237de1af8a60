import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerClassify } from '../src/commands/classify.js';
import { CliError } from '../src/io.js';
import { fakeIo, type FakeIo } from './fake-io.js';

const fixture = fileURLToPath(new URL('./fixtures/tools-list.json', import.meta.url));

/** Runs the classify command alone, as `main` would register it; returns the exit code. */
async function runCommand(argv: string[], io: FakeIo): Promise<number> {
  const program = new Command('posture')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  let exitCode = 0;
  registerClassify(program, io, (code) => void (exitCode = Math.max(exitCode, code)));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof CliError) {
      io.stderr(`posture: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}

/** Runs the whole CLI (loaded lazily, so the command tests above run even if another command is broken). */
async function runMain(argv: string[], io: FakeIo): Promise<number> {
  const { main } = await import('../src/main.js');
  return main(argv, io);
}

interface Row {
  name: string;
  access: string;
  tier: number;
  irreversible: boolean;
  reasons: Array<{ code: string; message: string }>;
}

const EXPECTED = [
  { name: 'get_ticket', access: 'read', tier: 1, irreversible: false },
  { name: 'add_comment', access: 'write', tier: 2, irreversible: false },
  { name: 'refund_payment', access: 'write', tier: 3, irreversible: true },
  { name: 'send_email', access: 'write', tier: 3, irreversible: true },
  { name: 'purge_tickets', access: 'write', tier: 3, irreversible: true },
  { name: 'execute_command', access: 'admin', tier: 3, irreversible: true },
  { name: 'frobnicate', access: 'write', tier: 3, irreversible: false },
];

describe('posture classify (through main)', () => {
  it('prints a JSON array with --json', async () => {
    const io = fakeIo();
    expect(await runMain(['classify', '--json', fixture], io)).toBe(0);
    expect(io.err).toBe('');
    const rows = JSON.parse(io.out) as Row[];
    expect(
      rows.map(({ name, access, tier, irreversible }) => ({ name, access, tier, irreversible })),
    ).toEqual(EXPECTED);
    expect(Object.keys(rows[0] ?? {})).toEqual(['name', 'access', 'tier', 'irreversible', 'reasons']);
    expect(rows.find((r) => r.name === 'purge_tickets')?.reasons.map((r) => r.code)).toContain(
      'annotation.readonly_conflict',
    );
    expect(rows.find((r) => r.name === 'frobnicate')?.reasons.map((r) => r.code)).toEqual([
      'unknown.default_high',
    ]);
  });

  it('fails with exit code 2 and a message on bad input', async () => {
    const io = fakeIo('{"tools": [ {"name": x} ]}');
    expect(await runMain(['classify', '-'], io)).toBe(2);
    expect(io.out).toBe('');
    expect(io.err).toBe('posture: standard input is not valid JSON: unexpected `x` at line 1, column 22\n');
  });
});

describe('posture classify', () => {
  it('prints catalog entries to paste under servers.<name>.tools', async () => {
    const io = fakeIo();
    expect(await runCommand(['classify', fixture], io)).toBe(0);
    const lines = io.out.trimEnd().split('\n');
    expect(lines).toHaveLength(EXPECTED.length);
    expect(lines[2]).toMatch(
      /^refund_payment: \{ tier: 3, access: write, irreversible: true \} +# verb\.destructive: name verb `refund` moves money; .*arg\.money: argument `amount` moves money/,
    );
    expect(lines[0]).toMatch(/^get_ticket: \{ tier: 1, access: read, irreversible: false \} +# verb\.read: /);
    // the entries are YAML flow mappings: the part before `#` parses as `name: {tier, access, irreversible}`
    for (const [i, line] of lines.entries()) {
      const match = /^([a-z_]+): \{ tier: (\d), access: (\w+), irreversible: (\w+) \}/.exec(line);
      const expected = EXPECTED[i];
      expect(match?.slice(1)).toEqual([
        expected?.name,
        String(expected?.tier),
        expected?.access,
        String(expected?.irreversible),
      ]);
    }
  });

  it('reads standard input when the file is `-` or absent', async () => {
    const input = JSON.stringify({ tools: [{ name: 'delete_file' }] });
    for (const argv of [['classify', '-'], ['classify']]) {
      const io = fakeIo(input);
      expect(await runCommand(argv, io)).toBe(0);
      expect(io.out).toBe(
        'delete_file: { tier: 3, access: write, irreversible: true }  # verb.destructive: name verb `delete` is destructive\n',
      );
    }
  });

  it('accepts a JSON-RPC response around the result', async () => {
    const io = fakeIo(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'get_ticket' }] } }));
    expect(await runCommand(['classify', '--json'], io)).toBe(0);
    expect((JSON.parse(io.out) as Row[]).map((r) => r.name)).toEqual(['get_ticket']);
  });

  it('quotes names that are not plain YAML keys', async () => {
    const io = fakeIo(
      JSON.stringify({ tools: [{ name: 'true' }, { name: '1.5' }, { name: 'get\u202eticket' }] }),
    );
    expect(await runCommand(['classify'], io)).toBe(0);
    const keys = io.out.split('\n').map((line) => line.split(': {')[0]);
    expect(keys.slice(0, 3)).toEqual(['"true"', '"1.5"', '"get\\u202eticket"']);
    expect(io.out).not.toContain('\u202e');
  });

  it('prints an empty list', async () => {
    const json = fakeIo('{"tools": []}');
    expect(await runCommand(['classify', '--json'], json)).toBe(0);
    expect(JSON.parse(json.out)).toEqual([]);
    const yaml = fakeIo('{"tools": []}');
    expect(await runCommand(['classify'], yaml)).toBe(0);
    expect(yaml.out).toBe('# no tools in standard input\n');
  });

  it.each([
    ['{"tools": [ {"name": x} ]}', 'standard input is not valid JSON: unexpected `x` at line 1, column 22'],
    [
      '{\n  "tools": [\n    {"name": "a"},\n  ]\n}',
      'standard input is not valid JSON: unexpected `]` at line 4, column 3',
    ],
    ['{"tools": [', 'standard input is not valid JSON: unexpected end of input at line 1, column 12'],
    ['{"tools": "a\u0001"}', 'standard input is not valid JSON: unexpected `\\u0001` at line 1, column 13'],
    ['{"tools": []} x', 'standard input is not valid JSON: unexpected `x` at line 1, column 15'],
    ['', 'standard input is not valid JSON: unexpected end of input at line 1, column 1'],
    [
      '{"tools": {}}',
      'standard input has no `tools` array: expected a `tools/list` result such as {"tools": [...]}',
    ],
    ['[]', 'standard input has no `tools` array: expected a `tools/list` result such as {"tools": [...]}'],
    ['{"tools": [1]}', '`tools[0]` in standard input is not an object'],
    ['{"tools": [{"name": "a"}, {"title": "b"}]}', '`tools[1]` in standard input has no `name` string'],
    ['{"tools": [{"name": 7}]}', '`tools[0]` in standard input has no `name` string'],
    [
      '{"tools": [{"name": "a"}, {"name": "a"}]}',
      '`tools[1]` in standard input repeats the name `a` of `tools[0]`',
    ],
  ])('rejects %j with exit code 2', async (input, message) => {
    const io = fakeIo(input);
    expect(await runCommand(['classify'], io)).toBe(2);
    expect(io.out).toBe('');
    expect(io.err).toBe(`posture: ${message}\n`);
  });

  it('names the file it cannot read', async () => {
    const io = fakeIo();
    expect(await runCommand(['classify', '/nonexistent/tools.json'], io)).toBe(2);
    expect(io.err).toBe('posture: cannot read `/nonexistent/tools.json`: ENOENT\n');
  });

  it('names the file in syntax errors', async () => {
    const io = fakeIo('', { 'tools.json': '{"tools": [}' });
    expect(await runCommand(['classify', 'tools.json'], io)).toBe(2);
    expect(io.err).toBe('posture: `tools.json` is not valid JSON: unexpected `}` at line 1, column 12\n');
  });
});
