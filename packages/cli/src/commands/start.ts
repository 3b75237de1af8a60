import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMemoryState, decide, locateRule } from '@posture/core';
import { CliError } from '../io.js';
import type { Register } from '../io.js';
import { readPolicy } from '../policy.js';
import { parseRequest } from '../request.js';

// Until the gateway and console land, `posture start` walks through a scripted session against the
// bundled customer-support example, so a newcomer sees decisions and their reasons at once.
const EXAMPLE =
  relative(process.cwd(), fileURLToPath(new URL('../../../../examples/support/', import.meta.url))) || '.';

export const registerStart: Register = (program, io) => {
  program
    .command('start')
    .description('run Posture on embedded defaults (for now: a scripted agent session, explained)')
    .option('--policy <file>', 'policy file', `${EXAMPLE}/posture.yaml`)
    .option('--requests <file>', 'JSON lines of requests to decide in order', `${EXAMPLE}/demo.jsonl`)
    .action(async (options: { policy: string; requests: string }) => {
      const { compiled, text } = await readPolicy(io, options.policy);
      const state = createMemoryState();
      const lines = (await io.readFile(options.requests)).split('\n');
      io.stdout(`Posture: deciding a scripted session against ${options.policy}\n\n`);
      let now = Date.parse('2026-01-05T09:00:00Z');
      let step = 0;
      for (const [index, line] of lines.entries()) {
        if (line.trim() === '' || line.startsWith('#')) continue;
        const parsed = parseRequest(JSON.parse(line));
        if ('error' in parsed) throw new CliError(`${options.requests}:${index + 1}: ${parsed.error}`);
        now = parsed.time ?? now + 1000;
        const { request } = parsed;
        const decision = decide(request, compiled, state, { now });
        step++;
        const args = request.args ? ` ${JSON.stringify(request.args)}` : '';
        io.stdout(`${step}. ${request.agent} for ${request.user ?? '(no user)'} → ${request.tool}${args}\n`);
        io.stdout(`   ${decision.decision.toUpperCase()}\n`);
        for (const [i, reason] of decision.reasons.entries()) {
          const rule = decision.rules[i] ?? decision.rules[0]!;
          const at = locateRule(text, rule);
          io.stdout(`   ${reason.code}: ${reason.message}  [${rule}${at ? ` line ${at.line}` : ''}]\n`);
        }
        io.stdout('\n');
      }
      io.stdout(
        'Next: `npx posture explain --policy examples/support/posture.yaml --agent support-bot --user alice --tool tickets/get_ticket`\n' +
          '      `npx posture check examples/*/posture.yaml`, `npx posture eval --policy … --input requests.jsonl`\n',
      );
    });
};
