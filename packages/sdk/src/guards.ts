// What the core's lexical argument guards cannot see without the machine: a host name that
// resolves to an internal address (SSRF through DNS), and a path under the roots that is a symlink
// out of them. Both run only for a call the policy would let through.
import { lookup } from 'node:dns/promises';
import { realpath } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  checkPath,
  hostAllowed,
  internalAddress,
  pathArguments,
  urlHosts,
  type CompiledPolicy,
  type Plan,
  type Reason,
} from '@posture/core';

/** Addresses a host name resolves to; rejects when it cannot tell. */
export type ResolveHost = (host: string) => Promise<string[]>;
/** The canonical path with symlinks resolved, or undefined when nothing of it exists. */
export type RealPath = (path: string) => Promise<string | undefined>;

export interface ArgumentGuardOptions {
  resolveHost?: ResolveHost;
  realPath?: RealPath;
  /** How long a resolution may take before the call is refused (default 2 s). */
  resolveTimeoutMs?: number;
}

export interface GuardRefusal {
  rule: string;
  reason: Reason;
}

const CACHE_MS = 30_000;
const MAX_CACHED = 10_000;

/** The operating system's resolver: every address, as `getaddrinfo` gives them. */
export const systemResolveHost: ResolveHost = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

/** `realpath` of the longest part of `path` that exists, with the rest appended. */
export const systemRealPath: RealPath = async (path) => {
  let existing = path;
  let rest = '';
  for (let i = 0; i < 64; i++) {
    try {
      const real = await realpath(existing);
      return rest === '' ? real : `${real}/${rest}`;
    } catch {
      const parent = dirname(existing);
      if (parent === existing) return undefined;
      rest = rest === '' ? existing.slice(parent.length + 1) : `${existing.slice(parent.length + 1)}/${rest}`;
      existing = parent;
    }
  }
  return undefined;
};

export class ArgumentGuards {
  readonly #resolveHost: ResolveHost;
  readonly #realPath: RealPath | undefined;
  readonly #timeoutMs: number;
  readonly #resolved = new Map<string, { addresses: string[]; until: number }>();

  constructor(options: ArgumentGuardOptions = {}) {
    this.#resolveHost = options.resolveHost ?? systemResolveHost;
    this.#realPath = options.realPath;
    this.#timeoutMs = options.resolveTimeoutMs ?? 2000;
  }

  /** Why the call may not run, or undefined. `now` only ages the resolution cache. */
  async check(
    policy: CompiledPolicy,
    agent: string,
    tool: string,
    args: Record<string, unknown>,
    now: number,
  ): Promise<GuardRefusal | undefined> {
    const plan = policy.agents.get(agent)?.plans.get(tool);
    if (!plan) return undefined;
    return (await this.#symlinks(plan, args)) ?? (await this.#dns(plan, args, now));
  }

  async #symlinks(plan: Plan, args: Record<string, unknown>): Promise<GuardRefusal | undefined> {
    const paths = plan.guards.paths;
    if (!paths || !this.#realPath) return undefined;
    const roots = await Promise.all(paths.roots.map(async (root) => (await this.#realPath!(root)) ?? root));
    for (const { at, path } of pathArguments(args, paths)) {
      if (path.startsWith('file:')) continue;
      // Relative paths were checked under each root; the real one is where it exists.
      const candidates = path.startsWith('/') ? [path] : paths.roots.map((root) => `${root}/${path}`);
      for (const candidate of candidates) {
        const real = await this.#realPath(candidate);
        if (real === undefined || real === candidate) continue;
        if (checkPath(real, roots) !== undefined) {
          return {
            rule: paths.rule,
            reason: {
              code: 'args.path',
              message: `\`${at}\` follows a symbolic link to \`${real}\`, outside the allowed roots (${paths.roots.join(', ')})`,
            },
          };
        }
      }
    }
    return undefined;
  }

  async #dns(plan: Plan, args: Record<string, unknown>, now: number): Promise<GuardRefusal | undefined> {
    const egress = plan.guards.egress;
    if (egress.private === 'allow') return undefined;
    for (const { at, host } of urlHosts(args, plan.guards.paths?.args)) {
      if (internalAddress(host) !== undefined || hostAllowed(host, egress.allow)) continue; // decided already
      let addresses: string[];
      try {
        addresses = await this.#addresses(host, now);
      } catch (error) {
        const code = (error as { code?: string }).code;
        // A name that does not exist reaches nothing; one that cannot be resolved now might
        // reach anything, so it is refused (fail closed).
        if (code === 'ENOTFOUND' || code === 'ENODATA') continue;
        return {
          rule: egress.rule,
          reason: {
            code: 'egress.unresolved',
            message: `\`${at}\` names \`${host}\`, which could not be resolved (${code ?? (error as Error).message}); it is refused rather than guessed`,
          },
        };
      }
      for (const address of addresses) {
        const internal = internalAddress(address);
        if (internal && !hostAllowed(address, egress.allow)) {
          return {
            rule: egress.rule,
            reason: {
              code: 'egress.private',
              message: `\`${at}\` names \`${host}\`, which resolves to \`${address}\` (${internal}); internal addresses are not reachable through tools unless \`egress.allow\` lists them`,
            },
          };
        }
      }
    }
    return undefined;
  }

  async #addresses(host: string, now: number): Promise<string[]> {
    const cached = this.#resolved.get(host);
    if (cached && cached.until > now) return cached.addresses;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error('timed out'), { code: 'ETIMEOUT' })),
        this.#timeoutMs,
      );
    });
    try {
      const addresses = await Promise.race([this.#resolveHost(host), timeout]);
      if (this.#resolved.size >= MAX_CACHED) this.#resolved.delete(this.#resolved.keys().next().value!);
      this.#resolved.set(host, { addresses, until: now + CACHE_MS });
      return addresses;
    } finally {
      clearTimeout(timer);
    }
  }
}
