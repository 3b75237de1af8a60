// Builds scan fixtures: files from test/fixtures/checks.yaml, and a real gateway database
// (inventory and a signed audit log) made with @posture/storage.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteAuditLog, openSqliteInventory, toolDefinitionHash } from '@posture/storage';
import { afterAll } from 'vitest';
import { parse, stringify } from 'yaml';

export interface DbSpec {
  tools: Array<{ server: string; name: string; status: 'new' | 'approved' | 'changed' }>;
  agents: string[];
  /** `leaky`: an event written past Posture's redaction, holding a key and an email. */
  audit: 'ok' | 'tampered' | 'leaky' | 'none';
}

export type Files = Record<string, unknown>;

export const FIXTURES = parse(readFileSync(new URL('./fixtures/checks.yaml', import.meta.url), 'utf8'), {
  merge: true,
}) as { clean: Files; cases: Record<string, { fires: Files; passes: Files }> };

const created: string[] = [];

export function tempDir(prefix = 'posture-scan-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

// Every folder a test file made is removed when it ends (modes restored first: some are 000).
afterAll(() => {
  for (const dir of created.splice(0)) {
    execFileSync('chmod', ['-R', 'u+rwX', dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

const NOW = new Date('2026-01-01T00:00:00Z');

export async function buildDatabase(path: string, spec: DbSpec): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const inventory = openSqliteInventory(path);
  for (const tool of spec.tools) {
    const definition = { name: tool.name, description: `${tool.name} of ${tool.server}` };
    await inventory.recordTools(tool.server, [definition], NOW);
    if (tool.status !== 'new')
      await inventory.approve(tool.server, tool.name, toolDefinitionHash(definition), 'bob', NOW);
    if (tool.status === 'changed')
      await inventory.recordTools(tool.server, [{ ...definition, description: 'changed' }], NOW);
  }
  for (const agent of spec.agents) await inventory.recordAgent(agent, NOW);
  await inventory.close();
  if (spec.audit === 'none') return;
  const log = await openSqliteAuditLog({ path });
  for (let i = 0; i < 3; i++) {
    await log.append({
      time: NOW.toISOString(),
      kind: 'call',
      actor: { agent: 'support-bot' },
      tool: 'tickets/get_ticket',
      decision: 'allow',
      outcome: 'allowed',
    });
  }
  await log.checkpoint();
  await log.close();
  if (spec.audit === 'leaky') {
    // As another writer would: straight into the table, past the log's redaction.
    const db = new Database(path);
    db.prepare('UPDATE audit_events SET json = ? WHERE seq = 1').run(
      JSON.stringify({
        args: { key: 'AKIAZ7Q3MEXR4NXW2BTA', contact: 'ada@example.org' },
        kind: 'call',
        seq: 1,
      }),
    );
    db.close();
  }
  if (spec.audit === 'tampered') {
    const db = new Database(path);
    db.prepare('DELETE FROM audit_events WHERE seq = 1').run();
    db.close();
  }
}

/** Writes `clean` overlaid with `files` into a new folder; returns it. */
export async function writeCase(files: Files, base: Files = FIXTURES.clean): Promise<string> {
  const root = tempDir();
  const merged: Files = { ...base, ...files };
  for (const [name, content] of Object.entries(merged)) {
    if (content === null || content === undefined) continue;
    if (name === '$db') {
      await buildDatabase(join(root, '.posture', 'posture.db'), content as DbSpec);
      continue;
    }
    const path = join(root, name);
    mkdirSync(dirname(path), { recursive: true });
    let mode = 0o600;
    let value = content;
    if (typeof value === 'object' && value !== null && '$mode' in value) {
      const { $mode, ...rest } = value as Record<string, unknown>;
      mode = $mode as number;
      value = rest;
    }
    const text =
      typeof value === 'string'
        ? value
        : name.endsWith('.json')
          ? JSON.stringify(value, null, 2)
          : stringify(value);
    writeFileSync(path, text);
    chmodSync(path, mode);
  }
  return root;
}
