// A gateway stand-in for the several-process Counters tests: opens its own store on the shared
// location, compiles the policy with the real core, says it is ready, then for each command line
// decides `count` calls through `stateKeys` + `Counters.transact` + `decide()`, `concurrency` at a
// time, starting at the instant the parent gave, and answers with every verdict and reason code.
// Run with `node --import ./ts-register.mjs counters-child.ts <module> <opener> <args> <policy>`.
import { createInterface } from 'node:readline';
import { compile, decide, loadPolicy, stateKeys, type DecisionRequest } from '../../../core/src/index.js';
import type { Counters } from '../../src/ports.js';

interface Command {
  /** Instead of deciding, bump one record every process shares (`hot`) and a session of its own. */
  hot?: boolean;
  request: DecisionRequest;
  /** Vary the arguments per call (`{ n: i }`), so that loop detection does not fire. */
  distinct?: boolean;
  count: number;
  concurrency: number;
  now: number;
  at: number;
}

const [moduleUrl, opener, argsJson, policyText] = process.argv.slice(2) as [string, string, string, string];
const { policy, problems } = loadPolicy(policyText, 'child');
if (!policy) throw new Error(`the policy does not load: ${JSON.stringify(problems)}`);
const compiled = compile(policy);
const open = (await import(moduleUrl))[opener] as (...args: unknown[]) => Promise<Counters>;
const counters = await open(...(JSON.parse(argsJson) as unknown[]));
const send = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`);
send({ ready: true });

for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as Command;
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, command.at - Date.now())));
  const outcomes: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < command.count) {
      const i = next++;
      const request = command.distinct ? { ...command.request, args: { n: i } } : command.request;
      const now = command.now + i;
      try {
        if (command.hot) {
          const session = `${process.pid}-${i}`;
          await counters.transact({ session, rates: [{ key: 'hot', windowMs: 3_600_000 }] }, now, (state) => {
            state.session(session).calls++;
            const log = state.rateLog('hot');
            log.times[0] = (log.times[0] ?? 0) + 1;
            log.next = 0;
          });
          outcomes.push('ok');
          continue;
        }
        const decision = await counters.transact(stateKeys(request, compiled), now, (state) =>
          decide(request, compiled, state, { now }),
        );
        outcomes.push(
          decision.decision === 'allow' ? 'allow' : (decision.reasons[0]?.code ?? decision.decision),
        );
      } catch (error) {
        outcomes.push(`error: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, worker));
  send({ outcomes });
}
await counters.close();
