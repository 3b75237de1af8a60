import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import type { Command } from 'commander';

/** What a command may touch of the outside world; tests pass their own. */
export interface Io {
  /** Writes to standard output; false when the caller should await `drain()` before more. */
  stdout(text: string): boolean;
  stderr(text: string): void;
  drain(): Promise<void>;
  /** Standard input as text chunks. */
  stdin(): AsyncIterable<string>;
  readFile(path: string): Promise<string>;
}

/** Each command file exports one of these; `main` registers them all. */
export type Register = (program: Command, io: Io, setExit: (code: number) => void) => void;

/** Raised by a command for a clean failure: a message and an exit code, never a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

export function processIo(): Io {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    drain: async () => {
      await once(process.stdout, 'drain');
    },
    async *stdin() {
      process.stdin.setEncoding('utf8');
      for await (const chunk of process.stdin) yield chunk as string;
    },
    readFile: (path) => readFile(path, 'utf8'),
  };
}

/** The whole of a chunk stream as one text. */
export async function readAll(chunks: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const chunk of chunks) text += chunk;
  return text;
}
