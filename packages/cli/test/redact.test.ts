import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { fakeIo } from './fake-io.js';

async function run(argv: string[], stdin = '', files: Record<string, string> = {}) {
  const io = fakeIo(stdin, files);
  const code = await main(argv, io);
  return { code, out: io.out, err: io.err };
}

const AWS = 'AKIAZ7Q3MEXR4NXW2BTA';
const EMAIL = 'jane.doe@acme-corp.io';
const TEXT = `deploy with ${AWS}\nand mail ${EMAIL} when done\n`;
const KEY_HEX = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const token = (value: string, hex = KEY_HEX) =>
  bytesToHex(hmac(sha256, hexToBytes(hex), utf8ToBytes(value))).slice(0, 16);

let dir: string;
let savedEnv: string | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'posture-redact-'));
  savedEnv = process.env.POSTURE_REDACTION_KEY;
  delete process.env.POSTURE_REDACTION_KEY;
});
afterEach(() => {
  if (savedEnv === undefined) delete process.env.POSTURE_REDACTION_KEY;
  else process.env.POSTURE_REDACTION_KEY = savedEnv;
});

describe('posture redact', () => {
  it('masks standard input onto standard output, leaving everything else as it was', async () => {
    const { code, out, err } = await run(['redact'], TEXT);
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(out).toBe('deploy with [REDACTED:aws_access_key]\nand mail [REDACTED:email] when done\n');
  });

  it('prints the findings with --json: class, family, path and offsets, never the values', async () => {
    const { code, out } = await run(['redact', '--json'], TEXT);
    expect(code).toBe(0);
    const result = JSON.parse(out);
    expect(result.findings).toEqual([
      { class: 'aws_access_key', family: 'secrets', path: '$', start: 12, end: 32 },
      { class: 'email', family: 'pii', path: '$', start: 42, end: 63 },
    ]);
    expect(TEXT.slice(12, 32)).toBe(AWS);
    expect(result.redacted).toContain('[REDACTED:email]');
    expect(out).not.toContain(AWS);
    expect(out).not.toContain(EMAIL);
  });

  it('drops with --mode drop', async () => {
    const { out } = await run(['redact', '--mode', 'drop'], `mail ${EMAIL} now`);
    expect(out).toBe('mail  now');
  });

  it('hashes with the key from POSTURE_REDACTION_KEY; --hash VALUE gives the same token', async () => {
    process.env.POSTURE_REDACTION_KEY = KEY_HEX;
    const { code, out } = await run(['redact', '--mode', 'hash'], `a ${EMAIL} b ${EMAIL}`);
    expect(code).toBe(0);
    expect(out).toBe(`a [HASH:email:${token(EMAIL)}] b [HASH:email:${token(EMAIL)}]`);
    const lookup = await run(['redact', '--hash', EMAIL]);
    expect(lookup.out).toBe(`${token(EMAIL)}\n`);
    expect((await run(['redact', '--hash', EMAIL, '--json'])).out).toBe(
      `${JSON.stringify({ hash: token(EMAIL) })}\n`,
    );
  });

  it('creates the key file with mode 0600 on first use and reuses it', async () => {
    const keyFile = join(dir, 'state', 'redaction.key');
    const first = await run(['redact', '--hash', EMAIL, '--key-file', keyFile]);
    expect(first.code).toBe(0);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const hex = readFileSync(keyFile, 'utf8').trim();
    expect(hex).toMatch(/^[0-9a-f]{64}$/);
    expect(first.out).toBe(`${token(EMAIL, hex)}\n`);
    const second = await run(['redact', '--mode', 'hash', '--key-file', keyFile], EMAIL);
    expect(second.out).toBe(`[HASH:email:${token(EMAIL, hex)}]`);
  });

  it('refuses a key file others may read, or one holding no key', async () => {
    const open = join(dir, 'open.key');
    writeFileSync(open, `${KEY_HEX}\n`, { mode: 0o644 });
    chmodSync(open, 0o644);
    const loose = await run(['redact', '--hash', 'x', '--key-file', open]);
    expect(loose.code).toBe(2);
    expect(loose.err).toMatch(/readable by other users .*chmod 600/);
    const bad = join(dir, 'bad.key');
    writeFileSync(bad, 'not a key\n', { mode: 0o600 });
    const invalid = await run(['redact', '--hash', 'x', '--key-file', bad]);
    expect(invalid.code).toBe(2);
    expect(invalid.err).toContain('holds no valid redaction key');
    expect(invalid.err).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('redacts one JSON value with paths, and JSON lines line by line', async () => {
    const value = { channel: 'ops', blocks: [{ text: `key ${AWS}` }] };
    const json = await run(['redact', '--format', 'json', '--json'], JSON.stringify(value));
    expect(JSON.parse(json.out)).toEqual({
      redacted: { channel: 'ops', blocks: [{ text: 'key [REDACTED:aws_access_key]' }] },
      findings: [{ class: 'aws_access_key', family: 'secrets', path: '$.blocks[0].text', start: 4, end: 24 }],
    });
    const lines = `{"a":"${EMAIL}"}\nnot json ${AWS}\n{"b":1}\n`;
    const jsonl = await run(['redact', '--format', 'jsonl'], lines);
    expect(jsonl.code).toBe(0);
    expect(jsonl.out).toBe('{"a":"[REDACTED:email]"}\nnot json [REDACTED:aws_access_key]\n{"b":1}\n');
    expect(jsonl.err).toContain('line 2 is not JSON: redacted as text');
  });

  it('says when --format json input is not JSON', async () => {
    const { code, out, err } = await run(['redact', '--format', 'json'], `{"a": ${EMAIL}`);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toMatch(/^posture: standard input is not JSON: /);
  });

  it('uses the policy’s custom patterns and redaction mode with --policy', async () => {
    const policy = [
      'version: 1',
      'data:',
      '  redaction: drop',
      '  patterns:',
      "    employee_id: { pattern: 'EMP-[0-9]{6}', class: pii }",
      '',
    ].join('\n');
    const { code, out } = await run(['redact', '--policy', 'p.yaml'], 'EMP-123456 and EMP-7', {
      'p.yaml': policy,
    });
    expect(code).toBe(0);
    expect(out).toBe(' and EMP-7');
    const masked = await run(['redact', '--policy', 'p.yaml', '--mode', 'mask'], 'EMP-123456', {
      'p.yaml': policy,
    });
    expect(masked.out).toBe('[REDACTED:employee_id]');
  });

  it('refuses a policy with a catastrophic pattern, naming it', async () => {
    const policy = "version: 1\ndata:\n  patterns:\n    bad: { pattern: '(a+)+$', class: pii }\n";
    const { code, err } = await run(['redact', '--policy', 'p.yaml'], 'x', { 'p.yaml': policy });
    expect(code).toBe(1);
    expect(err).toMatch(/p\.yaml:4:\d+ error pattern\.invalid: pattern `bad` is refused/);
  });

  it('`posture check` rejects the same pattern with pattern.invalid and the reason', async () => {
    const policy = "version: 1\ndata:\n  patterns:\n    bad: { pattern: '(a|ab){1,9}c', class: pii }\n";
    const { code, out } = await run(['check', '--json', 'p.yaml'], '', { 'p.yaml': policy });
    expect(code).toBe(1);
    const [problem] = JSON.parse(out);
    expect(problem).toMatchObject({ code: 'pattern.invalid', severity: 'error', line: 4 });
    expect(problem.message).toMatch(/exponential time/);
  });

  it('redacts only the classes asked for with --classes', async () => {
    const { out } = await run(['redact', '--classes', 'secrets'], TEXT);
    expect(out).toBe(`deploy with [REDACTED:aws_access_key]\nand mail ${EMAIL} when done\n`);
    const unknown = await run(['redact', '--classes', 'secretz'], TEXT);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unknown class `secretz`');
  });

  it('rejects an unknown mode or format', async () => {
    expect((await run(['redact', '--mode', 'blur'], 'x')).err).toContain('`--mode blur` is not one of');
    expect((await run(['redact', '--format', 'xml'], 'x')).err).toContain('`--format xml` is not one of');
  });
});
