import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { CliError, type Io } from './io.js';
import { registerCheck } from './commands/check.js';
import { registerSchema } from './commands/schema.js';
import { registerExplain } from './commands/explain.js';
import { registerEval } from './commands/eval.js';
import { registerClassify } from './commands/classify.js';
import { registerStart } from './commands/start.js';
import { registerRls } from './commands/rls.js';
import { registerApprovals } from './commands/approvals.js';
import { registerToken } from './commands/token.js';
import { registerGateway } from './commands/gateway.js';
import { registerExceptions } from './commands/exceptions.js';
import { registerAudit } from './commands/audit.js';
import { registerRedact } from './commands/redact.js';
import { registerScan } from './commands/scan.js';
import { registerTest } from './commands/test.js';
import { registerConsole } from './commands/console.js';
import { registerDemo } from './commands/demo.js';

/** This package's version (dist/main.js is one folder below package.json, as src/main.ts is). */
const VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** The `posture` program with every command registered, not yet run (also walked by `npm run docs`). */
export function buildProgram(io: Io, setExit: (code: number) => void = () => {}): Command {
  const program = new Command('posture')
    .description('agent posture management: decide, for every AI agent tool call, what may run')
    .version(VERSION, '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  for (const register of [
    registerCheck,
    registerSchema,
    registerExplain,
    registerEval,
    registerClassify,
    registerStart,
    registerRls,
    registerApprovals,
    registerToken,
    registerGateway,
    registerExceptions,
    registerAudit,
    registerRedact,
    registerScan,
    registerTest,
    registerConsole,
    registerDemo,
  ]) {
    register(program, io, setExit);
  }
  return program;
}

/** Runs `posture` with the given arguments (without `node` and the script); returns the exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, (code) => {
    exitCode = Math.max(exitCode, code);
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof CliError) {
      io.stderr(`posture: ${error.message}\n`);
      return error.exitCode;
    }
    io.stderr(`posture: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 70;
  }
}
