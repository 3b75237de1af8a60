import { generateRls } from '@posture/core';
import { CliError } from '../io.js';
import type { Register } from '../io.js';
import { readPolicy } from '../policy.js';

interface RlsCommandOptions {
  policy: string;
  table: string;
  schema?: string;
  ownerColumn?: string;
  groupsColumn?: string;
  classificationColumn?: string;
  role?: string;
}

export const registerRls: Register = (program, io) => {
  program
    .command('rls')
    .description(
      "print PostgreSQL row-level security for a documents table from the policy's data.retrieval " +
        "(the application sets the acting user per transaction: set_config('posture.user', $1, true))",
    )
    .requiredOption('--policy <file>', 'policy file')
    .requiredOption('--table <name>', 'the documents table')
    .option('--schema <name>', 'its schema, where the helper tables and function go too (default: public)')
    .option('--owner-column <name>', 'column of the owning user, text (default: owner)')
    .option('--groups-column <name>', 'column of the group names, text[] (default: groups)')
    .option('--classification-column <name>', 'column of the classification, text (default: classification)')
    .option('--role <name>', 'the role the SELECT policy applies to (default: PUBLIC)')
    .action(async (options: RlsCommandOptions) => {
      const { policy } = await readPolicy(io, options.policy);
      if (!policy.data.retrieval) {
        throw new CliError(
          `policy \`${options.policy}\` has no \`data.retrieval\`: declare the classifications and their readers first`,
        );
      }
      let sql: string;
      try {
        sql = generateRls(policy, {
          table: options.table,
          ...(options.schema !== undefined ? { schema: options.schema } : {}),
          ...(options.ownerColumn !== undefined ? { ownerColumn: options.ownerColumn } : {}),
          ...(options.groupsColumn !== undefined ? { groupsColumn: options.groupsColumn } : {}),
          ...(options.classificationColumn !== undefined
            ? { classificationColumn: options.classificationColumn }
            : {}),
          ...(options.role !== undefined ? { role: options.role } : {}),
        });
      } catch (error) {
        throw new CliError((error as Error).message);
      }
      io.stdout(sql);
    });
};
