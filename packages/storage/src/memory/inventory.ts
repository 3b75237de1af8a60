// The inventory in this process's memory: for tests, the SDK and `posture eval`.
import type {
  Inventory,
  InventoryAgent,
  InventoryServer,
  ToolApprovalResult,
  ToolDefinition,
  ToolSighting,
  ToolVersion,
} from '../ports.js';
import {
  approval,
  checkName,
  checkTime,
  checkTools,
  sight,
  toTool,
  type ToolRow,
} from '../inventory-rules.js';

export function createMemoryInventory(): Inventory {
  const tools = new Map<string, ToolRow>();
  const versions = new Map<string, ToolVersion[]>();
  const agents = new Map<string, InventoryAgent>();
  const servers = new Map<string, InventoryServer>();
  const keyOf = (server: string, name: string) => JSON.stringify([server, name]);
  const seenAt = <T extends { first_seen: string; last_seen: string }>(
    map: Map<string, T>,
    name: string,
    now: string,
  ) => {
    const entry = map.get(name);
    if (entry) entry.last_seen = entry.last_seen > now ? entry.last_seen : now;
    else map.set(name, { name, first_seen: now, last_seen: now } as unknown as T);
  };

  return {
    async recordTools(server, list, now): Promise<ToolSighting[]> {
      checkName('`server`', server);
      const at = checkTime(now);
      const checked = checkTools(server, list);
      seenAt(servers, server, at);
      return checked.map((seen) => {
        const key = keyOf(server, seen.definition.name);
        const { row, sighting } = sight(tools.get(key), server, seen, at);
        tools.set(key, row);
        const history = versions.get(key) ?? [];
        if (!history.some((version) => version.hash === seen.hash)) {
          history.push({
            hash: seen.hash,
            definition: JSON.parse(seen.json) as ToolDefinition,
            first_seen: at,
          });
        }
        versions.set(key, history);
        return sighting;
      });
    },
    async recordAgent(agent, now) {
      seenAt(agents, checkName('`agent`', agent), checkTime(now));
    },
    async approve(server, name, hash, by, now): Promise<ToolApprovalResult> {
      checkName('`by`', by);
      const key = keyOf(server, name);
      const { row, result } = approval(tools.get(key), { server, name }, hash, by, checkTime(now));
      if (row) tools.set(key, row);
      return result;
    },
    async tool(server, name) {
      const row = tools.get(keyOf(server, name));
      return row && toTool(row);
    },
    async tools(filter = {}) {
      return [...tools.values()]
        .map(toTool)
        .filter(
          (tool) =>
            (filter.server === undefined || tool.server === filter.server) &&
            (filter.status === undefined || tool.status === filter.status),
        )
        .sort((a, b) => (a.server === b.server ? compare(a.name, b.name) : compare(a.server, b.server)));
    },
    async history(server, name) {
      return structuredClone(versions.get(keyOf(server, name)) ?? []);
    },
    async agents() {
      return [...agents.values()].map((agent) => ({ ...agent })).sort((a, b) => compare(a.name, b.name));
    },
    async servers() {
      return [...servers.values()].map((server) => ({ ...server })).sort((a, b) => compare(a.name, b.name));
    },
    async close() {},
  };
}

/** Code-unit order, as SQLite's default BINARY collation and PostgreSQL's `COLLATE "C"` sort. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
