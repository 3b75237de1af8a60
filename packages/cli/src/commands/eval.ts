import { createReadStream } from 'node:fs';
import { createMemoryState, decide, type Decision } from '@posture/core';
import { CliError, type Io } from '../io.js';
import type { Register } from '../io.js';
import { readPolicy } from '../policy.js';
import { parseRequest } from '../request.js';

export const registerEval: Register = (program, io) => {
  program
    .command('eval')
    .description('decide a stream of JSON-lines requests in order, with state, one JSON line out per request')
    .requiredOption('--policy <file>', 'policy file')
    .option('--input <file>', 'JSON lines of requests (`-` or absent: standard input)')
    .action(async (options: { policy: string; input?: string }) => {
      const { compiled } = await readPolicy(io, options.policy);
      const state = createMemoryState();
      const source = options.input ?? 'stdin';
      // Shared decisions are frozen objects: serialise each once.
      const serialised = new WeakMap<Decision, string>();
      let lineNumber = 0;
      let now = Date.now();
      let rest = '';
      // Lines are decided synchronously a chunk at a time, and each chunk's output is one write:
      // no promise per line.
      const decideLines = (lines: string[]): string => {
        let out = '';
        for (const line of lines) {
          lineNumber++;
          if (line.length === 0) continue;
          let value: unknown;
          try {
            value = JSON.parse(line);
          } catch (error) {
            if (line.trim() === '') continue;
            throw Object.assign(
              new CliError(`${source}:${lineNumber}: not JSON: ${(error as Error).message}`),
              {
                out,
              },
            );
          }
          const parsed = parseRequest(value);
          if ('error' in parsed)
            throw Object.assign(new CliError(`${source}:${lineNumber}: ${parsed.error}`), { out });
          if (parsed.time !== undefined) now = parsed.time;
          const decision = decide(parsed.request, compiled, state, { now });
          let text = serialised.get(decision);
          if (text === undefined) {
            text = JSON.stringify(decision);
            if (Object.isFrozen(decision)) serialised.set(decision, text);
          }
          out += `${text}\n`;
        }
        return out;
      };
      const emit = async (text: string) => {
        if (text !== '' && !io.stdout(text)) await io.drain();
      };
      try {
        for await (const chunk of readChunks(io, options.input)) {
          const lines = (rest + chunk).split('\n');
          rest = lines.pop()!;
          await emit(decideLines(lines));
        }
        await emit(decideLines(rest === '' ? [] : [rest]));
      } catch (error) {
        // What was decided before a bad line is still written, then the error names the line.
        const partial = (error as { out?: string }).out;
        if (partial) await emit(partial);
        throw error;
      }
    });
};

/** Text chunks of a file or of standard input. */
function readChunks(io: Io, input: string | undefined): AsyncIterable<string> {
  return input === undefined || input === '-' ? io.stdin() : fileChunks(input);
}

async function* fileChunks(path: string): AsyncIterable<string> {
  try {
    for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
      yield chunk as string;
    }
  } catch (error) {
    throw new CliError(`cannot read \`${path}\`: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
