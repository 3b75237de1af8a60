// `posture start` as a user runs it: a child process in a fresh folder, on free ports, read back
// from what it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const BIN = resolve('packages/cli/dist/bin.js');

export interface StartedPosture {
  dir: string;
  db: string;
  child: ChildProcess;
  stdout: string;
  stderr: () => string;
  consoleUrl?: string;
  consoleUser?: string;
  consolePassword?: string;
  gatewayUrl: string;
  token: string;
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null>;
  /** Stops it if running and removes the folder. */
  cleanup(): Promise<void>;
}

export async function startPosture(
  options: { dir?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<StartedPosture> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'posture-start-'));
  const db = join(dir, '.posture', 'posture.db');
  const child = spawn('node', [BIN, 'start', '--port', '0', '--console-port', '0', ...(options.args ?? [])], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  stdout = await new Promise<string>((resolveOut, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`posture start did not start: ${stdout}${stderr}`)),
      25_000,
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('Ctrl-C stops Posture')) {
        clearTimeout(timer);
        resolveOut(stdout);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`posture start exited ${code}: ${stdout}${stderr}`));
    });
  });
  const field = (pattern: RegExp) => pattern.exec(stdout)?.[1];
  // 'close', not 'exit': the last lines on its pipes may arrive after it exited.
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    return exited;
  };
  const consoleUrl = field(/Console {2}(http:\/\/\S+)/);
  const consoleUser = field(/sign in as (\S+?),? password/);
  const consolePassword = field(/password (\S+)/);
  return {
    dir,
    db,
    child,
    stdout,
    stderr: () => stderr,
    ...(consoleUrl ? { consoleUrl } : {}),
    ...(consoleUser ? { consoleUser } : {}),
    ...(consolePassword ? { consolePassword } : {}),
    gatewayUrl: field(/Gateway {2}(http:\/\/\S+\/mcp)/)!,
    token: field(/valid 1 h:\n\s+(\S+)/)!,
    stop,
    cleanup: async () => {
      await stop();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
