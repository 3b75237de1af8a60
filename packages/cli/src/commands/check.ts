import { formatProblem, loadPolicy } from '@posture/core';
import { CliError } from '../io.js';
import type { Register } from '../io.js';

export const registerCheck: Register = (program, io, setExit) => {
  program
    .command('check')
    .description('check policy files: every problem with file:line:column, a stable code and a hint')
    .argument('<files...>', 'policy files (posture.yaml)')
    .option('--json', 'print the problems as a JSON array')
    .action(async (files: string[], options: { json?: boolean }) => {
      const all = [];
      for (const file of files) {
        let text: string;
        try {
          text = await io.readFile(file);
        } catch (error) {
          throw new CliError(
            `cannot read \`${file}\`: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
          );
        }
        all.push(...loadPolicy(text, file).problems);
      }
      const errors = all.filter((p) => p.severity === 'error').length;
      const warnings = all.length - errors;
      if (options.json) io.stdout(`${JSON.stringify(all, null, 2)}\n`);
      else {
        for (const problem of all) io.stdout(`${formatProblem(problem)}\n`);
        io.stdout(
          errors + warnings === 0
            ? `${files.join(', ')}: no problems\n`
            : `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`,
        );
      }
      setExit(errors > 0 ? 1 : 0);
    });
};
