// Starts audit-writer.ts in a child process running the TypeScript sources.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const register = fileURLToPath(new URL('./ts-register.mjs', import.meta.url));
const writer = fileURLToPath(new URL('./audit-writer.ts', import.meta.url));

export function spawnWriter(args: string[], env?: Record<string, string>): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', register, writer, ...args], {
    stdio: 'pipe',
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
}

/** Calls `onLine` for each complete line the child prints. */
export function onLines(child: ChildProcessWithoutNullStreams, onLine: (line: string) => void): void {
  let rest = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop()!;
    for (const line of lines) onLine(line);
  });
}

export function exited(
  child: ChildProcessWithoutNullStreams,
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
}
