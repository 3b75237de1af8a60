import {
  compile,
  formatProblem,
  loadPolicy,
  type CompiledPolicy,
  type PolicyFile,
  type Problem,
} from '@posture/core';
import { CliError, type Io } from './io.js';

/** Reads and checks a policy file; prints warnings; throws a clean error when it has errors. */
export async function readPolicy(
  io: Io,
  path: string,
): Promise<{ policy: PolicyFile; compiled: CompiledPolicy; problems: Problem[]; text: string }> {
  let text: string;
  try {
    text = await io.readFile(path);
  } catch (error) {
    throw new CliError(
      `cannot read policy \`${path}\`: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  const { policy, problems } = loadPolicy(text, path);
  const errors = problems.filter((p) => p.severity === 'error');
  for (const problem of problems) io.stderr(`${formatProblem(problem)}\n`);
  if (!policy || errors.length > 0) {
    throw new CliError(`policy \`${path}\` has ${errors.length} error${errors.length === 1 ? '' : 's'}`, 1);
  }
  return { policy, compiled: compile(policy), problems, text };
}
