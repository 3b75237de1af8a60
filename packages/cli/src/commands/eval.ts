import { createReadStream } from 'node:fs';
import { createMemoryState, decide, type Decision } from '@posture/core';
import { CliError, splitLines, type Io } from '../io.js';
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
      const output = new OutputBuffer(io);
      // Shared decisions are frozen objects: serialise each once.
      const serialised = new WeakMap<Decision, string>();
      let lineNumber = 0;
      let now = Date.now();
      for await (const line of readLines(io, options.input)) {
        lineNumber++;
        if (line.trim() === '') continue;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch (error) {
          await output.flush();
          throw new CliError(
            `${options.input ?? 'stdin'}:${lineNumber}: not JSON: ${(error as Error).message}`,
          );
        }
        const parsed = parseRequest(value);
        if ('error' in parsed) {
          await output.flush();
          throw new CliError(`${options.input ?? 'stdin'}:${lineNumber}: ${parsed.error}`);
        }
        if (parsed.time !== undefined) now = parsed.time;
        const decision = decide(parsed.request, compiled, state, { now });
        let text = serialised.get(decision);
        if (text === undefined) {
          text = JSON.stringify(decision);
          if (Object.isFrozen(decision)) serialised.set(decision, text);
        }
        await output.write(`${text}\n`);
      }
      await output.flush();
    });
};

/** Lines of a file or of standard input. */
function readLines(io: Io, input: string | undefined): AsyncIterable<string> {
  if (input === undefined || input === '-') return splitLines(io.stdin());
  return splitLines(fileChunks(input));
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

/** Batches output lines into large writes, waiting when the reader falls behind. */
class OutputBuffer {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly io: Io) {}
  async write(text: string): Promise<void> {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= 1 << 16) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const ready = this.io.stdout(this.parts.join(''));
    this.parts = [];
    this.size = 0;
    if (!ready) await this.io.drain();
  }
}
