import { classify } from '../classify.js';
import type { Access, Classification, McpTool, Tier } from '../types.js';
import type { PolicyFile, ToolOverride } from './schema.js';

/** One tool of the catalog: what the policy says of it, completed by classification. */
export interface CatalogTool {
  /** `server/tool` */
  key: string;
  server: string;
  name: string;
  access: Access;
  tier: Tier;
  irreversible: boolean;
  returns: readonly string[];
  /** The confidential classes it may receive; undefined: any. */
  accepts: readonly string[] | undefined;
  external: boolean;
  /** Its results are lists of labelled documents, filtered per user (`data.retrieval`). */
  retrieval: boolean;
  inputSchema: Record<string, unknown> | undefined;
  /** Arguments holding file paths, and the roots they must stay under. */
  paths: { args: readonly string[]; roots: readonly string[] } | undefined;
  /** What automatic classification concluded, before the policy's overrides. */
  classification: Classification;
  /** Whether the policy declares it, or only discovery saw it. */
  declared: boolean;
}

export const ACCESS_RANK: Record<Access, number> = { read: 0, write: 1, admin: 2 };

/** Builds the catalog from the policy's servers and the tools discovered upstream. */
export function buildCatalog(
  policy: PolicyFile,
  discovered: Record<string, McpTool[]> = {},
): Map<string, CatalogTool> {
  const catalog = new Map<string, CatalogTool>();
  for (const [server, config] of Object.entries(policy.servers)) {
    const overrides = config.tools ?? {};
    const found = new Map((discovered[server] ?? []).map((tool) => [tool.name, tool]));
    const names = new Set([...Object.keys(overrides), ...found.keys()]);
    for (const name of names) {
      catalog.set(`${server}/${name}`, catalogTool(server, name, overrides[name], found.get(name)));
    }
  }
  return catalog;
}

function catalogTool(
  server: string,
  name: string,
  override: ToolOverride | undefined,
  seen: McpTool | undefined,
): CatalogTool {
  const definition: McpTool = {
    name,
    ...(seen ?? {}),
    ...(override?.description !== undefined ? { description: override.description } : {}),
    ...(override?.input_schema ? { inputSchema: override.input_schema } : {}),
    ...(override?.annotations ? { annotations: override.annotations } : {}),
  };
  const classification = classify(definition);
  return {
    key: `${server}/${name}`,
    server,
    name,
    access: override?.access ?? classification.access,
    tier: override?.tier ?? classification.tier,
    irreversible: override?.irreversible ?? classification.irreversible,
    returns: override?.returns ?? [],
    accepts: override?.accepts,
    // An open-world hint can only add restrictions here, so it is trusted for this.
    external: override?.external ?? definition.annotations?.openWorldHint === true,
    retrieval: override?.retrieval === true,
    inputSchema: definition.inputSchema,
    paths: override?.paths,
    classification,
    declared: override !== undefined,
  };
}

/** Resolves which groups each declared user belongs to, following nested groups. */
export function groupMembership(policy: PolicyFile): Map<string, Set<string>> {
  const membership = new Map<string, Set<string>>();
  for (const [user, config] of Object.entries(policy.users)) membership.set(user, new Set(config.groups));
  // Fixed point: a user in group G is in every group that lists `G` or the user as a member.
  for (let changed = true; changed;) {
    changed = false;
    for (const [group, config] of Object.entries(policy.groups)) {
      for (const [user, groups] of membership) {
        if (groups.has(group)) continue;
        const member = config.members.some((m) =>
          m.startsWith('group:') ? groups.has(m.slice(6)) : m === user,
        );
        if (member) {
          groups.add(group);
          changed = true;
        }
      }
    }
  }
  return membership;
}

/** The declared users a list of principals (`alice`, `group:sre`) names. */
export function usersOf(principals: readonly string[], membership: Map<string, Set<string>>): Set<string> {
  const users = new Set<string>();
  for (const principal of principals) {
    if (principal.startsWith('group:')) {
      const group = principal.slice(6);
      for (const [user, groups] of membership) if (groups.has(group)) users.add(user);
    } else if (membership.has(principal)) users.add(principal);
  }
  return users;
}
