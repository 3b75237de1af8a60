// `posture gateway` as a process, for the tests that run the CLI as a user would: started in a
// folder, its URL read from what it prints, stopped with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

export const BIN = resolve('packages/cli/dist/bin.js');
const EVERYTHING = createRequire(import.meta.url).resolve(
  '@modelcontextprotocol/server-everything/dist/index.js',
);

/** One agent, `helper` for alice, that may call server-everything's echo (tier 1, read). */
export const ECHO_POLICY = `
version: 1
users:
  alice: { groups: [staff] }
agents:
  helper:
    owner: alice
    run_by: [group:staff]
    grants:
      - tools: [everything/echo]
servers:
  everything:
    command: [node, ${JSON.stringify(EVERYTHING)}, stdio]
    tools:
      echo: { tier: 1, access: read }
`;

/** Starts `posture gateway <args>` in `cwd`; resolves once it prints its URL. */
export async function startGatewayProcess(
  args: string[],
  cwd: string,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn('node', [BIN, 'gateway', ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${stderr}`)), 20_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /posture gateway: (http:\/\/\S+\/mcp)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${stderr}`)));
  });
  return { child, url };
}

/** Stops a gateway process started above, waiting for it to exit. */
export async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}
