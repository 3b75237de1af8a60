import { policyJsonSchema } from '@posture/core';
import type { Register } from '../io.js';

export const registerSchema: Register = (program, io) => {
  program
    .command('schema')
    .description('print the JSON Schema of posture.yaml, for editors')
    .action(() => {
      const schema = {
        title: 'Posture policy file',
        ...policyJsonSchema(),
      };
      io.stdout(`${JSON.stringify(schema, null, 2)}\n`);
    });
};
