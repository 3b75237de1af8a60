// Reading what a configured server does from its command line, URL and environment.
import { basename } from 'node:path';
import type { ConfiguredServer } from '../scan/model.js';

export function program(server: ConfiguredServer): string {
  return server.command === undefined
    ? ''
    : basename(server.command)
        .toLowerCase()
        .replace(/\.(exe|cmd)$/, '');
}

/** The JSON path of a server in its file. */
export function serverPath(server: ConfiguredServer): string {
  return server.client === 'posture' ? `servers.${server.name}` : `mcpServers.${server.name}`;
}

/** Whether the server is Posture's gateway (so its upstreams are mediated). */
export function isGateway(server: ConfiguredServer): boolean {
  const words = [program(server), ...server.args];
  const posture = words.findIndex(
    (w) => w === 'posture' || w === '@posture/cli' || w.startsWith('@posture/cli@'),
  );
  return posture !== -1 && words.slice(posture + 1).includes('gateway');
}

const RUNNERS = new Set(['npx', 'bunx', 'pnpx', 'uvx']);

/** The package a runner (`npx -y pkg`, `uvx pkg`, `pnpm dlx pkg`) fetches, if any. */
export function runnerPackage(server: ConfiguredServer): { runner: string; spec: string } | undefined {
  const name = program(server);
  let rest: string[];
  if (RUNNERS.has(name)) rest = server.args;
  else if ((name === 'pnpm' || name === 'yarn') && server.args[0] === 'dlx') rest = server.args.slice(1);
  else if (name === 'npm' && server.args[0] === 'exec') rest = server.args.slice(1);
  else return undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--') continue;
    if (arg.startsWith('--package=')) return { runner: name, spec: arg.slice('--package='.length) };
    if (arg === '-p' || arg === '--package' || arg === '--from')
      return { runner: name, spec: rest[i + 1] ?? '' };
    if (arg.startsWith('-')) continue;
    return { runner: name, spec: arg };
  }
  return undefined;
}

const EXACT = /^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/;

/** Whether a package spec names one exact version: `pkg@1.2.3`, `@scope/pkg@1.2.3`, `pkg==1.2.3`. */
export function isPinned(spec: string): boolean {
  if (spec.includes('==')) return EXACT.test(spec.split('==')[1] ?? '');
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('file:')) return true;
  const at = spec.lastIndexOf('@');
  if (at <= 0) return false;
  return EXACT.test(spec.slice(at + 1));
}

const VALUE_FLAGS = new Set([
  '-e',
  '--env',
  '-v',
  '--volume',
  '-p',
  '--publish',
  '--name',
  '--network',
  '--net',
  '-w',
  '--workdir',
  '--mount',
  '-u',
  '--user',
  '--entrypoint',
  '--platform',
  '--env-file',
  '-l',
  '--label',
  '--pid',
]);

/** `docker run … IMAGE …`: the image and the options before it. */
export function containerRun(server: ConfiguredServer): { image: string; options: string[] } | undefined {
  const name = program(server);
  if (name !== 'docker' && name !== 'podman') return undefined;
  const run = server.args.indexOf('run');
  if (run === -1) return undefined;
  const options: string[] = [];
  for (let i = run + 1; i < server.args.length; i++) {
    const arg = server.args[i]!;
    if (arg.startsWith('-')) {
      options.push(arg);
      if (VALUE_FLAGS.has(arg) && i + 1 < server.args.length) options.push(server.args[++i]!);
      continue;
    }
    return { image: arg, options };
  }
  return undefined;
}

/** Every text a server is configured with, and where: args, env values, headers, URL. */
export function configuredTexts(
  server: ConfiguredServer,
): Array<{ path: string; key?: string; text: string }> {
  const base = serverPath(server);
  const out: Array<{ path: string; key?: string; text: string }> = [];
  if (server.command !== undefined) out.push({ path: `${base}.command`, text: server.command });
  server.args.forEach((text, i) => out.push({ path: `${base}.args[${i}]`, text }));
  for (const [key, text] of Object.entries(server.env)) out.push({ path: `${base}.env.${key}`, key, text });
  for (const [key, text] of Object.entries(server.headers))
    out.push({ path: `${base}.headers.${key}`, key, text });
  if (server.url !== undefined) out.push({ path: `${base}.url`, text: server.url });
  return out;
}

/** `${env:X}`, `${input:x}`, `$X`, `%X%`, `{{x}}`: the value comes from elsewhere at run time. */
export function isReference(text: string): boolean {
  return /^\s*(?:Bearer\s+)?(?:\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*|%[A-Za-z_][A-Za-z0-9_]*%|\{\{[^}]+\}\})\s*$/.test(
    text,
  );
}

export const SECRET_NAME =
  /(?:^|_|-)(?:token|secret|password|passwd|pat|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?token)(?:$|_|-)/i;

/** The payload of each JWT in a text, undecodable ones skipped. */
export function jwtPayloads(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const match of text.matchAll(/eyJ[A-Za-z0-9_-]+\.(eyJ[A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*/g)) {
    try {
      const payload: unknown = JSON.parse(Buffer.from(match[1]!, 'base64url').toString('utf8'));
      if (typeof payload === 'object' && payload !== null && !Array.isArray(payload))
        out.push(payload as Record<string, unknown>);
    } catch {
      // Not a JWT after all.
    }
  }
  return out;
}

export function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

// The invisible and bidirectional-control characters core refuses in names (core/src/text.ts).
const INVISIBLE =
  // eslint-disable-next-line no-misleading-character-class
  /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\u{E0000}-\u{E007F}]/gu;

export function invisibleCodePoints(text: string): string[] {
  return [
    ...new Set(
      [...text.matchAll(INVISIBLE)].map(
        (m) => `U+${m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`,
      ),
    ),
  ];
}

/** Phrases that address the model rather than describe the tool (tool poisoning). */
export const HIDDEN_INSTRUCTIONS: ReadonlyArray<{ pattern: RegExp; what: string }> = [
  {
    pattern:
      /\bignore\s+(?:all\s+|any\s+)?(?:previous|prior|above|earlier)\s+(?:instructions|prompts|rules)/i,
    what: 'tells the model to ignore its instructions',
  },
  {
    pattern: /\bdo\s+not\s+(?:tell|inform|mention|reveal|show)\b[^.]{0,60}\b(?:user|human)/i,
    what: 'tells the model to hide something from the user',
  },
  {
    pattern: /<\s*\/?\s*(?:important|system|instructions?|secret|hidden)\s*>/i,
    what: 'carries a tag addressed to the model',
  },
  {
    pattern:
      /\bbefore\s+(?:using|calling|invoking)\s+(?:this|any)\s+tool\b[^.]{0,100}\b(?:read|send|include|pass|call)\b/i,
    what: 'asks the model to do something before calling the tool',
  },
  {
    pattern: /(?:~\/\.ssh|id_rsa|\.aws\/credentials|\/etc\/passwd|\.env\b|mcp\.json|claude_desktop_config)/i,
    what: 'names a credential or configuration file',
  },
];

const EXEC_NAME =
  /(?:^|[_.-])(?:exec|execute|shell|bash|sh|cmd|powershell|terminal|eval|run_?(?:command|code|script|python|shell)|python|spawn|subprocess)(?:$|[_.-])/i;
const EXEC_DESCRIPTION =
  /\b(?:execut(?:e|es|ing)|run(?:s)?)\s+(?:arbitrary\s+|any\s+)?(?:shell|terminal|system|bash|python|javascript)?\s*(?:commands?|code|scripts?)\b/i;
export const EXEC_PACKAGES =
  /(?:desktop-commander|mcp-server-commands|mcp-shell|server-shell|shell-server|code-runner|mcp-run-python|server-terminal)/i;

export function executesCode(name: string, description: string | undefined): boolean {
  return EXEC_NAME.test(name) || (description !== undefined && EXEC_DESCRIPTION.test(description));
}
