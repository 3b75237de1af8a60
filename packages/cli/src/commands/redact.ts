// `posture redact`: standard input in, the same with secrets and personal data replaced out; with
// `--json`, what was found (class, family, path, offsets), never the values. `--hash VALUE` prints
// the keyed hash a `hash`-mode redaction writes for VALUE, so an operator can look a value up in
// the evidence without the evidence holding it.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  createDetector,
  hashValue,
  redact,
  type Detector,
  type Finding,
  type RedactionMode,
  type RedactOptions,
} from '@posture/core';
import { CliError, readAll, type Register } from '../io.js';
import { readPolicy } from '../policy.js';

export const DEFAULT_REDACTION_KEY = join('.posture', 'redaction.key');
const MODES = ['mask', 'hash', 'drop'] as const;
const FORMATS = ['text', 'json', 'jsonl'] as const;
type Format = (typeof FORMATS)[number];

interface RedactCommandOptions {
  mode?: string;
  format: string;
  json?: boolean;
  policy?: string;
  classes?: string;
  hash?: string;
  keyFile?: string;
}

/** A hex key of at least 16 bytes, from POSTURE_REDACTION_KEY, `--key-file` or `.posture/redaction.key`. */
function parseKey(text: string, where: string): Uint8Array {
  const hex = text.trim();
  if (!/^(?:[0-9a-fA-F]{2}){16,}$/.test(hex)) {
    throw new CliError(`${where} holds no valid redaction key: expected at least 32 hex digits`);
  }
  return Uint8Array.from(hex.match(/../g)!, (byte) => parseInt(byte, 16));
}

function readKeyFile(path: string): Uint8Array {
  if (process.platform !== 'win32') {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new CliError(
        `redaction key file \`${path}\` is readable by other users (mode \`${mode.toString(8)}\`): run \`chmod 600 ${path}\``,
      );
    }
  }
  return parseKey(readFileSync(path, 'utf8'), `redaction key file \`${path}\``);
}

/**
 * The per-installation redaction key: POSTURE_REDACTION_KEY, else the key file, which is created
 * (32 random bytes, hex, mode 0600) on first use.
 */
export function loadRedactionKey(
  keyFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Uint8Array {
  const fromEnv = env.POSTURE_REDACTION_KEY;
  if (fromEnv !== undefined && fromEnv !== '' && keyFile === undefined) {
    return parseKey(fromEnv, 'POSTURE_REDACTION_KEY');
  }
  const path = keyFile ?? DEFAULT_REDACTION_KEY;
  try {
    return readKeyFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (error instanceof CliError) throw error;
      throw new CliError(`cannot read redaction key file \`${path}\`: ${(error as Error).message}`);
    }
  }
  let fd: number;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // `wx`: if another process created the key in the meantime, use that one instead.
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readKeyFile(path);
    throw new CliError(`cannot create redaction key file \`${path}\`: ${(error as Error).message}`);
  }
  const key = randomBytes(32);
  try {
    writeSync(fd, `${key.toString('hex')}\n`);
  } finally {
    closeSync(fd);
  }
  return new Uint8Array(key);
}

/** What `--json` prints of a finding: never the value. */
function describe(finding: Finding, line?: number) {
  return {
    ...(line !== undefined ? { line } : {}),
    class: finding.class,
    family: finding.family,
    path: finding.path,
    start: finding.start,
    end: finding.end,
  };
}

export const registerRedact: Register = (program, io) => {
  program
    .command('redact')
    .description(
      'replace secrets and personal data in standard input: `[REDACTED:class]` (mask), a keyed hash (hash) or nothing (drop)',
    )
    .option('--mode <mode>', 'mask | hash | drop (default: the policy’s data.redaction, else mask)')
    .option('--format <format>', 'text | json (one JSON value) | jsonl (one JSON value per line)', 'text')
    .option(
      '--json',
      'print {"redacted", "findings"}: the output (a value for --format json) and each finding’s class, family, path and offsets',
    )
    .option('--policy <file>', 'use the policy’s custom patterns (data.patterns) and redaction mode')
    .option('--classes <list>', 'only these families or classes, comma-separated (e.g. `secrets,email`)')
    .option('--hash <value>', 'print the token `hash` mode writes for this value, to look it up in evidence')
    .option(
      '--key-file <file>',
      `the per-installation key for hash (default: POSTURE_REDACTION_KEY or ${DEFAULT_REDACTION_KEY}, created on first use)`,
    )
    .action(async (options: RedactCommandOptions) => {
      if (options.hash !== undefined) {
        const key = loadRedactionKey(options.keyFile);
        const token = hashValue(key, options.hash);
        io.stdout(options.json ? `${JSON.stringify({ hash: token })}\n` : `${token}\n`);
        return;
      }
      if (!(FORMATS as readonly string[]).includes(options.format)) {
        throw new CliError(`\`--format ${options.format}\` is not one of ${FORMATS.join(', ')}`);
      }
      let detector: Detector;
      let mode: RedactionMode = 'mask';
      if (options.policy !== undefined) {
        const { policy, compiled } = await readPolicy(io, options.policy);
        detector = compiled.detector;
        mode = policy.data.redaction;
      } else {
        detector = createDetector();
      }
      if (options.mode !== undefined) {
        if (!(MODES as readonly string[]).includes(options.mode)) {
          throw new CliError(`\`--mode ${options.mode}\` is not one of ${MODES.join(', ')}`);
        }
        mode = options.mode as RedactionMode;
      }
      const redactOptions: RedactOptions = { mode };
      if (mode === 'hash') redactOptions.key = loadRedactionKey(options.keyFile);
      if (options.classes !== undefined) {
        const classes = options.classes.split(',').map((c) => c.trim());
        const known = new Set(['secrets', 'pii', ...detector.classes.keys(), ...detector.classes.values()]);
        const unknown = classes.filter((c) => !known.has(c));
        if (unknown.length > 0) {
          throw new CliError(
            `unknown class ${unknown.map((c) => `\`${c}\``).join(', ')}: use a family (secrets, pii) or a class such as \`aws_access_key\``,
          );
        }
        redactOptions.classes = classes;
      }
      const input = await readAll(io.stdin());
      const wanted = (f: Finding) =>
        redactOptions.classes === undefined ||
        f.family === 'limit' ||
        redactOptions.classes.includes(f.class) ||
        redactOptions.classes.includes(f.family);
      const output = redactInput(input, options.format as Format, detector, redactOptions, wanted, io.stderr);
      const text = options.json
        ? `${JSON.stringify({ redacted: output.value, findings: output.findings })}\n`
        : output.redacted;
      if (text !== '' && !io.stdout(text)) await io.drain();
    });
};

function redactInput(
  input: string,
  format: Format,
  detector: Detector,
  options: RedactOptions,
  wanted: (f: Finding) => boolean,
  warn: (text: string) => void,
): { redacted: string; value: unknown; findings: ReturnType<typeof describe>[] } {
  if (format === 'text') {
    const findings = detector.scan(input).filter(wanted);
    const redacted = redact(input, findings, options).value as string;
    return { redacted, value: redacted, findings: findings.map((f) => describe(f)) };
  }
  if (format === 'json') {
    let value: unknown;
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new CliError(`standard input is not JSON: ${(error as Error).message}`);
    }
    const findings = detector.scanValue(value).filter(wanted);
    const redacted = redact(value, findings, options).value;
    return {
      redacted: `${JSON.stringify(redacted)}\n`,
      value: redacted,
      findings: findings.map((f) => describe(f)),
    };
  }
  // jsonl: a line that is not JSON is redacted as text, so nothing is lost and nothing leaks
  const lines = input.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let redacted = '';
  const all: ReturnType<typeof describe>[] = [];
  lines.forEach((line, i) => {
    let value: unknown;
    let json = line.trim() !== '';
    if (json) {
      try {
        value = JSON.parse(line);
      } catch {
        json = false;
        warn(`posture: line ${i + 1} is not JSON: redacted as text\n`);
      }
    }
    const findings = (json ? detector.scanValue(value) : detector.scan(line)).filter(wanted);
    const out = redact(json ? value : line, findings, options).value;
    redacted += `${json ? JSON.stringify(out) : (out as string)}\n`;
    for (const f of findings) all.push(describe(f, i + 1));
  });
  return { redacted, value: redacted, findings: all };
}
