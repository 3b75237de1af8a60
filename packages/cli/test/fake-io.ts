import { readFile } from 'node:fs/promises';
import type { Io } from '../src/io.js';

export interface FakeIo extends Io {
  out: string;
  err: string;
}

/** An Io that collects output; files come from `files` first, then from disk. */
export function fakeIo(stdin = '', files: Record<string, string> = {}): FakeIo {
  const io: FakeIo = {
    out: '',
    err: '',
    stdout: (text) => {
      io.out += text;
      return true;
    },
    stderr: (text) => void (io.err += text),
    drain: async () => {},
    async *stdin() {
      // in two chunks, as a pipe may deliver it
      yield stdin.slice(0, 5);
      yield stdin.slice(5);
    },
    readFile: async (path) => files[path] ?? readFile(path, 'utf8'),
  };
  return io;
}
