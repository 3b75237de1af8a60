// `posture scan [FOLDER]`: finds agent configurations (and, with --home, the user's), runs the
// checks, and prints a scored report as a table, JSON, SARIF, Markdown or HTML. `--fail-on high`
// exits 1 when a finding is that severe or worse, for CI. Secrets never reach the output.
import { statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { durationMs } from '@posture/core';
import { failsAt, FORMATS, render, scan, SEVERITIES, type Format, type Severity } from '@posture/assess';
import { CliError, type Register } from '../io.js';

interface ScanCommandOptions {
  home?: boolean;
  connect?: boolean;
  timeout: string;
  format: string;
  out?: string;
  failOn?: string;
}

export const registerScan: Register = (program, io, setExit) => {
  program
    .command('scan')
    .description(
      'assess agent configurations under FOLDER: servers, tools, policy, evidence; scored per pillar',
    )
    .argument('[folder]', 'folder to scan', '.')
    .option('--home', "also read the clients' configuration files in your home folder")
    .option('--connect', 'start or reach each configured server and list its tools (never calls one)')
    .option('--timeout <duration>', 'with --connect: how long a server may take to list its tools', '10s')
    .option('--format <format>', FORMATS.join(' | '), 'table')
    .option('--out <file>', 'write the report to this file instead of standard output')
    .option(
      '--fail-on <severity>',
      `exit 1 when a finding is at least this severe (${SEVERITIES.join(', ')})`,
    )
    .action(async (folder: string, options: ScanCommandOptions) => {
      if (!(FORMATS as readonly string[]).includes(options.format)) {
        throw new CliError(`\`--format ${options.format}\` is not one of ${FORMATS.join(', ')}`);
      }
      if (options.failOn !== undefined && !(SEVERITIES as readonly string[]).includes(options.failOn)) {
        throw new CliError(`\`--fail-on ${options.failOn}\` is not one of ${SEVERITIES.join(', ')}`);
      }
      let timeoutMs: number;
      try {
        timeoutMs = durationMs(options.timeout);
      } catch {
        throw new CliError(`\`--timeout ${options.timeout}\` is not a duration such as 10s`);
      }
      const root = resolve(folder);
      let isDirectory = false;
      try {
        isDirectory = statSync(root).isDirectory();
      } catch {
        // Reported below.
      }
      if (!isDirectory) throw new CliError(`\`${folder}\` is not a folder`);
      const report = await scan(root, {
        ...(options.home ? { home: homedir() } : {}),
        connect: options.connect === true,
        connectTimeoutMs: timeoutMs,
      });
      const text = render(report, options.format as Format);
      if (options.out !== undefined) {
        try {
          writeFileSync(options.out, text);
        } catch (error) {
          throw new CliError(
            `cannot write \`${options.out}\`: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
          );
        }
        io.stderr(
          `posture: wrote the ${options.format} report to \`${options.out}\` (score ${report.scores.overall}/100, ${report.findings.length} finding(s))\n`,
        );
      } else if (!io.stdout(text)) {
        await io.drain();
      }
      if (options.failOn !== undefined && failsAt(report, options.failOn as Severity)) {
        io.stderr(`posture: findings at or above \`${options.failOn}\`\n`);
        setExit(1);
      }
    });
};
