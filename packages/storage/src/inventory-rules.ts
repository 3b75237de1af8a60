// What every Inventory backend shares: which parts of a tool definition are pinned and how they
// hash, input checks, and how one sighting changes a stored tool. Backends only read and write rows.
import { createHash } from 'node:crypto';
import { canonicalJson } from '@posture/core';
import type { InventoryTool, ToolApprovalResult, ToolDefinition, ToolSighting, ToolStatus } from './ports.js';

/** A tool as stored, in the same shape by every backend. */
export interface ToolRow {
  server: string;
  name: string;
  hash: string;
  /** The canonical JSON of the definition. */
  definition: string;
  first_seen: string;
  last_seen: string;
  changes: number;
  approved_hash: string | null;
  approved_by: string | null;
  approved_at: string | null;
}

/**
 * The pinned parts of a tool: name, description, input schema and annotations — what a model
 * reads to choose and call it, and the hints clients use to auto-approve. Other fields (a display
 * title, an output schema) are not pinned.
 */
export function toolDefinition(tool: unknown, server = '?'): ToolDefinition {
  if (typeof tool !== 'object' || tool === null || Array.isArray(tool)) {
    throw new Error(`a tool of server \`${server}\` is not an object`);
  }
  const { name, description, inputSchema, annotations } = tool as Record<string, unknown>;
  if (typeof name !== 'string' || name === '') {
    throw new Error(`a tool of server \`${server}\` has no name`);
  }
  if (name.includes('\u0000')) throw new Error(`a tool name of server \`${server}\` contains NUL`);
  if (description !== undefined && typeof description !== 'string') {
    throw new Error(`the description of \`${server}/${name}\` is not a string`);
  }
  for (const [field, value] of [
    ['inputSchema', inputSchema],
    ['annotations', annotations],
  ] as const) {
    if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      throw new Error(`the ${field} of \`${server}/${name}\` is not an object`);
    }
  }
  return {
    name,
    ...(description !== undefined ? { description } : {}),
    ...(inputSchema !== undefined ? { inputSchema: inputSchema as Record<string, unknown> } : {}),
    ...(annotations !== undefined ? { annotations: annotations as Record<string, unknown> } : {}),
  };
}

/** Hex SHA-256 of the canonical JSON of the pinned parts: key order and other fields do not count. */
export function toolDefinitionHash(tool: ToolDefinition): string {
  return createHash('sha256')
    .update(canonicalJson(toolDefinition(tool)))
    .digest('hex');
}

export function checkName(what: string, value: unknown): string {
  if (typeof value !== 'string' || value === '' || value.includes('\u0000')) {
    throw new Error(`${what} must be a non-empty string without NUL`);
  }
  return value;
}

export function checkTime(now: Date): string {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new Error('`now` must be a valid date');
  return now.toISOString();
}

/** The definitions of one `tools/list`, checked, hashed, and without repeated names. */
export function checkTools(
  server: string,
  tools: readonly unknown[],
): Array<{ definition: ToolDefinition; json: string; hash: string }> {
  if (!Array.isArray(tools)) throw new Error(`the tools of server \`${server}\` are not a list`);
  const seen = new Set<string>();
  return tools.map((tool) => {
    const definition = toolDefinition(tool, server);
    if (seen.has(definition.name)) {
      throw new Error(`server \`${server}\` lists the tool \`${definition.name}\` twice`);
    }
    seen.add(definition.name);
    const json = canonicalJson(definition);
    return { definition, json, hash: createHash('sha256').update(json).digest('hex') };
  });
}

function statusOf(row: ToolRow): ToolStatus {
  if (row.approved_hash === null) return 'new';
  return row.approved_hash === row.hash ? 'approved' : 'changed';
}

export function toTool(row: ToolRow): InventoryTool {
  return {
    server: row.server,
    name: row.name,
    hash: row.hash,
    definition: JSON.parse(row.definition) as ToolDefinition,
    first_seen: row.first_seen,
    last_seen: row.last_seen,
    changes: Number(row.changes),
    status: statusOf(row),
    ...(row.approved_hash !== null ? { approved_hash: row.approved_hash } : {}),
    ...(row.approved_by !== null ? { approved_by: row.approved_by } : {}),
    ...(row.approved_at !== null ? { approved_at: row.approved_at } : {}),
  };
}

const later = (a: string, b: string) => (a > b ? a : b);

/** The row after one sighting of a definition, and what the sighting says. */
export function sight(
  existing: ToolRow | undefined,
  server: string,
  seen: { json: string; hash: string; definition: ToolDefinition },
  now: string,
): { row: ToolRow; sighting: ToolSighting } {
  if (!existing) {
    const row: ToolRow = {
      server,
      name: seen.definition.name,
      hash: seen.hash,
      definition: seen.json,
      first_seen: now,
      last_seen: now,
      changes: 0,
      approved_hash: null,
      approved_by: null,
      approved_at: null,
    };
    return { row, sighting: { ...toTool(row), seen: 'first' } };
  }
  const changed = existing.hash !== seen.hash;
  const row: ToolRow = {
    ...existing,
    hash: seen.hash,
    definition: seen.json,
    last_seen: later(existing.last_seen, now),
    changes: Number(existing.changes) + (changed ? 1 : 0),
  };
  return {
    row,
    sighting: changed
      ? { ...toTool(row), seen: 'changed', previous_hash: existing.hash }
      : { ...toTool(row), seen: 'same' },
  };
}

/** The approval of `hash` on a stored tool: the row to write, or why not. */
export function approval(
  existing: ToolRow | undefined,
  key: { server: string; name: string },
  hash: string,
  by: string,
  now: string,
): { row: ToolRow; result: ToolApprovalResult } | { row: undefined; result: ToolApprovalResult } {
  if (!existing) {
    return {
      row: undefined,
      result: {
        ok: false,
        code: 'not_found',
        message: `no tool \`${key.server}/${key.name}\` has been seen`,
      },
    };
  }
  if (existing.hash !== hash) {
    return {
      row: undefined,
      result: {
        ok: false,
        code: 'mismatch',
        message: `the definition of \`${key.server}/${key.name}\` is now \`${existing.hash.slice(0, 12)}\`, not \`${hash.slice(0, 12)}\`: review it again`,
        tool: toTool(existing),
      },
    };
  }
  const row: ToolRow = { ...existing, approved_hash: hash, approved_by: by, approved_at: now };
  return { row, result: { ok: true, tool: toTool(row) } };
}
