import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { classify, classifyAll } from '../src/classify.js';
import type { Access, Classification, McpTool } from '../src/types.js';

const seenCodes = new Set<string>();

function c(tool: McpTool): Classification {
  const result = classify(tool);
  for (const reason of result.reasons) seenCodes.add(reason.code);
  return result;
}
const codes = (tool: McpTool) => c(tool).reasons.map((r) => r.code);
const verdict = (tool: McpTool) => {
  const { access, tier, irreversible } = c(tool);
  return { access, tier, irreversible };
};
const props = (...names: string[]) => ({
  type: 'object',
  properties: Object.fromEntries(names.map((n) => [n, { type: 'string' }])),
});

const READ = { access: 'read', tier: 1, irreversible: false };
const WRITE = { access: 'write', tier: 2, irreversible: false };
const WRITE_IRREVERSIBLE = { access: 'write', tier: 2, irreversible: true };
const HIGH = { access: 'write', tier: 3, irreversible: false };
const DESTRUCTIVE = { access: 'write', tier: 3, irreversible: true };
const ADMIN = { access: 'admin', tier: 3, irreversible: false };
const ADMIN_CODE = { access: 'admin', tier: 3, irreversible: true };

describe('classify: verbs in names', () => {
  it.each([
    ['get_ticket', READ],
    ['getDeploymentStatus', READ],
    ['get_deployment_status', READ],
    ['list_deleted_items', READ],
    ['list_files', READ],
    ['list-files', READ],
    ['tickets.get', READ],
    ['getHTTPHeaders', READ],
    ['read_file', READ],
    ['search_docs', READ],
    ['fetch', READ],
    ['browser_navigate', READ],
    ['browser_snapshot', READ],
    ['get_release', READ],
    ['get_refund', READ],
    ['get_merge_request', READ],
    ['list_workflow_runs', READ],
    ['get_email', READ],
    ['get_user', READ],
    ['list_secrets', READ],
    ['create_issue', WRITE],
    ['repos.create', WRITE],
    ['add_comment', WRITE],
    ['add_issue_comment', WRITE],
    ['write_file', WRITE],
    ['read_write_file', WRITE],
    ['move_file', WRITE],
    ['undo_delete', WRITE],
    ['status_update', WRITE],
    ['create_merge_request', WRITE],
    ['update_order_status', WRITE],
    ['create_payment_link', WRITE],
    ['browser_click', WRITE],
    ['slack_post_message', WRITE],
    ['send_email', WRITE_IRREVERSIBLE],
    ['email_user', WRITE_IRREVERSIBLE],
    ['drop_table', DESTRUCTIVE],
    ['delete_and_get', DESTRUCTIVE],
    ['get_and_delete', DESTRUCTIVE],
    ['Delete File', DESTRUCTIVE],
    ['refund_payment', DESTRUCTIVE],
    ['create_refund', DESTRUCTIVE],
    ['create_order', DESTRUCTIVE],
    ['git_push', DESTRUCTIVE],
    ['force_push', DESTRUCTIVE],
    ['merge_pull_request', DESTRUCTIVE],
    ['publish_release', DESTRUCTIVE],
    ['send_money', DESTRUCTIVE],
    ['cancel_workflow_run', HIGH],
    ['restart_service', HIGH],
    ['run_workflow', HIGH],
    ['execute_command', ADMIN_CODE],
    ['run_command', ADMIN_CODE],
    ['run_query', ADMIN_CODE],
    ['browser_evaluate', ADMIN_CODE],
    ['bash', ADMIN_CODE],
    ['grant_access', ADMIN],
    ['update_user_role', ADMIN],
    ['invite_user', ADMIN],
    ['get_or_create_user', ADMIN],
    ['user_delete', { access: 'admin', tier: 3, irreversible: true }],
    ['create_api_key', ADMIN],
    ['update_settings', ADMIN],
  ])('%s', (name, expected) => {
    expect(verdict({ name })).toEqual(expected);
  });

  it('explains with the verb that decided, in a stable code', () => {
    expect(c({ name: 'delete_file' }).reasons).toEqual([
      { code: 'verb.destructive', message: 'name verb `delete` is destructive' },
    ]);
    expect(codes({ name: 'get_ticket' })).toEqual(['verb.read']);
    expect(codes({ name: 'create_issue' })).toEqual(['verb.write']);
    expect(codes({ name: 'restart_service' })).toEqual(['verb.high_impact']);
    expect(codes({ name: 'chmod' })).toEqual(['verb.admin']);
  });

  it('reports only the strongest verbs, and any irreversible one', () => {
    expect(codes({ name: 'get_and_delete' })).toEqual(['verb.destructive']);
    expect(c({ name: 'send_and_restart' })).toMatchObject({ tier: 3, irreversible: true });
    expect(codes({ name: 'send_and_restart' })).toEqual(['verb.write', 'verb.high_impact']);
  });

  it('reads words, not substrings', () => {
    expect(verdict({ name: 'deployment_status' })).toEqual(READ);
    expect(codes({ name: 'deployment_status' })).toEqual(['noun.read']);
    expect(verdict({ name: 'getaway' })).toEqual(HIGH); // not `get`
    expect(verdict({ name: 'rerun_jobs' })).toEqual(HIGH);
  });

  it('uses the title like a name', () => {
    expect(verdict({ name: 'tool_17', title: 'Delete Ticket' })).toEqual(DESTRUCTIVE);
    expect(c({ name: 'tool_17', title: 'Delete Ticket' }).reasons[0]?.message).toBe(
      'title verb `delete` is destructive',
    );
  });
});

describe('classify: descriptions', () => {
  it('takes the leading verb after filler words', () => {
    expect(verdict({ name: 'weather', description: 'Get the current weather for a city.' })).toEqual(READ);
    expect(verdict({ name: 'x', description: 'Use this tool to permanently delete files.' })).toEqual(
      DESTRUCTIVE,
    );
    expect(verdict({ name: 'x', description: 'Tool for searching the web' })).toEqual(READ);
    expect(verdict({ name: 'x', description: 'Deleting a user is permanent' })).toEqual(DESTRUCTIVE);
    expect(verdict({ name: 'x', description: 'Creates a new issue in a repository' })).toEqual(WRITE);
  });

  it('counts later verbs only when they cannot be nouns, and not when negated', () => {
    expect(verdict({ name: 'x', description: 'Lists comments, posts and tags' })).toEqual(READ);
    expect(verdict({ name: 'x', description: 'Reads a file and then removes it' })).toEqual(DESTRUCTIVE);
    expect(verdict({ name: 'x', description: 'Returns files and does not delete anything' })).toEqual(READ);
  });

  it('looks at the first sentence only', () => {
    expect(verdict({ name: 'get_ticket', description: 'Get a ticket. Admins may delete tickets.' })).toEqual(
      READ,
    );
    expect(verdict({ name: 'get_ticket', description: 'Get a ticket\nthen delete tickets' })).toEqual(READ);
  });

  it('raises but never lowers the name', () => {
    expect(verdict({ name: 'get_file', description: 'Get a file, or create it when missing' })).toEqual(
      WRITE,
    );
    expect(verdict({ name: 'delete_file', description: 'Read the file' })).toEqual(DESTRUCTIVE);
  });

  it('finds objects in the description', () => {
    expect(c({ name: 'do_it', description: 'Runs a shell command on the host' })).toMatchObject(ADMIN_CODE);
    expect(codes({ name: 'do_it', description: 'Runs a shell command on the host' })).toEqual([
      'verb.high_impact',
      'object.code',
    ]);
    expect(verdict({ name: 'perm', description: 'Updates the role of a user' })).toEqual(ADMIN);
    expect(verdict({ name: 'notify', description: 'Sends an email to the user' })).toEqual(
      WRITE_IRREVERSIBLE,
    );
  });
});

describe('classify: objects', () => {
  it('admin objects make writes admin, not reads nor messages', () => {
    expect(codes({ name: 'update_user_role' })).toEqual(['verb.write', 'object.admin']);
    expect(c({ name: 'update_user_role' }).reasons[1]?.message).toBe(
      'name object `role` concerns access control or configuration',
    );
    expect(verdict({ name: 'list_user_roles' })).toEqual(READ);
    expect(verdict({ name: 'send_message_to_user' })).toEqual(WRITE_IRREVERSIBLE);
    expect(verdict({ name: 'update_user_profile' })).toEqual(WRITE);
  });

  it('code objects need a verb that runs', () => {
    expect(codes({ name: 'run_command' })).toEqual(['verb.high_impact', 'object.code']);
    expect(verdict({ name: 'create_script' })).toEqual(WRITE);
    expect(verdict({ name: 'shell_command' })).toEqual(ADMIN_CODE);
  });

  it('money objects make writes high-impact and irreversible', () => {
    expect(codes({ name: 'make_payment' })).toEqual(['verb.write', 'object.money']);
    expect(verdict({ name: 'make_payment' })).toEqual(DESTRUCTIVE);
    expect(verdict({ name: 'get_payment' })).toEqual(READ);
  });

  it('objects of an unknown tool still raise it', () => {
    expect(verdict({ name: 'user_settings' })).toEqual(ADMIN);
    expect(codes({ name: 'user_settings' })).toEqual(['unknown.default_high', 'object.admin']);
  });
});

describe('classify: arguments', () => {
  it('`run_query` with a `sql` argument executes code', () => {
    const tool = { name: 'run_query', inputSchema: props('sql') };
    expect(verdict(tool)).toEqual(ADMIN_CODE);
    expect(codes(tool)).toContain('arg.command');
  });

  it('command arguments make any tool admin, even a read-sounding one', () => {
    expect(verdict({ name: 'get_output', inputSchema: props('command') })).toEqual(ADMIN_CODE);
    expect(c({ name: 'get_output', inputSchema: props('shell_command') }).reasons).toContainEqual({
      code: 'arg.command',
      message: 'argument `shell_command` takes code to execute',
    });
    expect(verdict({ name: 'query', inputSchema: props('raw_sql') })).toEqual(ADMIN_CODE);
    expect(verdict({ name: 'foo', inputSchema: props('script') })).toEqual(ADMIN_CODE);
  });

  it('ambiguous code arguments need context', () => {
    expect(verdict({ name: 'create_coupon', inputSchema: props('code') })).toEqual(WRITE);
    expect(verdict({ name: 'lookup_country', inputSchema: props('code') })).toEqual(READ);
    expect(verdict({ name: 'sandbox', description: 'Execute Python', inputSchema: props('code') })).toEqual(
      ADMIN_CODE,
    );
    expect(verdict({ name: 'search_docs', inputSchema: props('query') })).toEqual(READ);
    expect(verdict({ name: 'query_database', inputSchema: props('query') })).toEqual(ADMIN_CODE);
    const described = {
      name: 'ask',
      inputSchema: { type: 'object', properties: { query: { type: 'string', description: 'A SQL SELECT' } } },
    };
    expect(verdict(described)).toEqual(ADMIN_CODE);
  });

  it('money arguments raise writes to tier 3 and irreversible', () => {
    const tool = { name: 'transfer_funds', inputSchema: props('to', 'amount', 'iban') };
    expect(verdict(tool)).toEqual(DESTRUCTIVE);
    expect(codes(tool)).toContain('arg.money');
    expect(verdict({ name: 'create_invoice', inputSchema: props('amount_in_cents') })).toEqual(DESTRUCTIVE);
    expect(verdict({ name: 'foo', inputSchema: props('amount') })).toEqual(DESTRUCTIVE);
    // a read (a quote, a conversion) with an amount stays a read
    expect(verdict({ name: 'get_quote', inputSchema: props('amount') })).toEqual(READ);
  });

  it('recipients are noted on writes', () => {
    const tool = { name: 'send_email', inputSchema: props('to', 'subject', 'body') };
    expect(c(tool).reasons).toContainEqual({
      code: 'arg.recipient',
      message: 'argument `to` names a recipient',
    });
    expect(codes({ name: 'move_file', inputSchema: props('from', 'to') })).not.toContain('arg.recipient');
    expect(codes({ name: 'create_draft', inputSchema: props('recipients') })).toContain('arg.recipient');
    expect(codes({ name: 'get_draft', inputSchema: props('recipients') })).not.toContain('arg.recipient');
  });

  it('urls and paths are noted without changing the verdict', () => {
    const fetch = {
      name: 'fetch',
      description: 'Fetches a URL from the internet',
      inputSchema: props('url'),
    };
    expect(verdict(fetch)).toEqual(READ);
    expect(c(fetch).reasons).toContainEqual({
      code: 'arg.url',
      message: 'argument `url` reaches the network',
    });
    expect(verdict({ name: 'read_file', inputSchema: props('file_path') })).toEqual(READ);
    expect(codes({ name: 'read_file', inputSchema: props('file_path') })).toEqual(['verb.read', 'arg.path']);
  });

  it('shows untrusted argument names safely', () => {
    const message = c({ name: 'x', inputSchema: props('amount`\nrm -rf /' + 'x'.repeat(100)) }).reasons.find(
      (r) => r.code === 'arg.money',
    )?.message;
    expect(message).toBeDefined();
    expect(message).not.toContain('\n');
    expect(message?.match(/`/g)).toHaveLength(2);
    expect(message?.length).toBeLessThan(120);
  });
});

describe('classify: uncertainty', () => {
  it('a tool with no known verb is a tier 3 write', () => {
    expect(c({ name: 'foo' })).toEqual({
      access: 'write',
      tier: 3,
      irreversible: false,
      reasons: [
        {
          code: 'unknown.default_high',
          message: 'no known verb in `foo`: classified upward as a tier 3 write',
        },
      ],
    });
    expect(verdict({ name: 'foo', description: '' })).toEqual(HIGH);
    expect(verdict({ name: '' })).toEqual(HIGH);
  });

  it('is total on malformed tools', () => {
    const junk = {
      name: 42,
      description: { x: 1 },
      title: [],
      inputSchema: { properties: [1, 2] },
      annotations: 'yes',
    } as unknown as McpTool;
    expect(c(junk)).toMatchObject(HIGH);
    fc.assert(
      fc.property(
        fc.anything(),
        fc.anything(),
        fc.anything(),
        fc.anything(),
        (name, description, schema, hints) => {
          const tool = { name, description, inputSchema: schema, annotations: hints } as unknown as McpTool;
          const result = classify(tool);
          expect([1, 2, 3]).toContain(result.tier);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('classify: annotations', () => {
  it('a read-only hint agrees with a read verb', () => {
    const tool = { name: 'get_ticket', annotations: { readOnlyHint: true } };
    expect(verdict(tool)).toEqual(READ);
    expect(codes(tool)).toEqual(['verb.read', 'annotation.readonly']);
  });

  it('a read-only hint on a destructive-sounding tool is ignored and flagged', () => {
    const tool = { name: 'delete_ticket', annotations: { readOnlyHint: true } };
    expect(verdict(tool)).toEqual(DESTRUCTIVE);
    expect(c(tool).reasons).toContainEqual({
      code: 'annotation.readonly_conflict',
      message: 'read-only hint contradicts name verb `delete`: ignored',
    });
    const sql = { name: 'get_rows', inputSchema: props('sql'), annotations: { readOnlyHint: true } };
    expect(verdict(sql)).toEqual(ADMIN_CODE);
    expect(codes(sql)).toContain('annotation.readonly_conflict');
  });

  it('a read-only hint does not place an unknown tool', () => {
    const tool = { name: 'foo', annotations: { readOnlyHint: true } };
    expect(verdict(tool)).toEqual(HIGH);
    expect(codes(tool)).toEqual(['unknown.default_high', 'annotation.readonly_ignored']);
  });

  it('`readOnlyHint: false` raises a read to a write', () => {
    const tool = { name: 'get_ticket', annotations: { readOnlyHint: false } };
    expect(verdict(tool)).toEqual(WRITE);
    expect(codes(tool)).toEqual(['verb.read', 'annotation.not_readonly']);
    expect(codes({ name: 'create_issue', annotations: { readOnlyHint: false } })).toEqual(['verb.write']);
  });

  it('a destructive hint makes a tier 3 irreversible write', () => {
    expect(verdict({ name: 'get_ticket', annotations: { destructiveHint: true } })).toEqual(DESTRUCTIVE);
    expect(
      verdict({ name: 'update_file', annotations: { destructiveHint: true, idempotentHint: true } }),
    ).toEqual(DESTRUCTIVE);
    expect(verdict({ name: 'grant_role', annotations: { destructiveHint: true } })).toEqual({
      access: 'admin',
      tier: 3,
      irreversible: true,
    });
    expect(codes({ name: 'foo', annotations: { destructiveHint: true } })).toEqual([
      'unknown.default_high',
      'annotation.destructive',
    ]);
  });

  it('contradictory hints: destructive wins', () => {
    const tool = { name: 'get_ticket', annotations: { readOnlyHint: true, destructiveHint: true } };
    expect(verdict(tool)).toEqual(DESTRUCTIVE);
    expect(c(tool).reasons).toContainEqual({
      code: 'annotation.readonly_conflict',
      message: 'read-only hint contradicts the destructive hint: ignored',
    });
  });

  it('false destructive and idempotent hints lower nothing', () => {
    expect(
      verdict({ name: 'delete_file', annotations: { destructiveHint: false, idempotentHint: true } }),
    ).toEqual(DESTRUCTIVE);
  });

  it('an open-world hint raises tools that send content to others to tier 3', () => {
    const send = { name: 'send_email', annotations: { openWorldHint: true } };
    expect(verdict(send)).toEqual(DESTRUCTIVE);
    expect(c(send).reasons).toContainEqual({
      code: 'annotation.open_world',
      message: 'open-world hint on a tool that sends content to others: raised to tier 3',
    });
    expect(verdict({ name: 'slack_post_message', annotations: { openWorldHint: true } })).toEqual(HIGH);
    const recipient = {
      name: 'create_note',
      inputSchema: props('recipients'),
      annotations: { openWorldHint: true },
    };
    expect(verdict(recipient)).toEqual(HIGH);
  });

  it('an open-world hint on other tools is only noted', () => {
    const navigate = {
      name: 'browser_navigate',
      inputSchema: props('url'),
      annotations: { openWorldHint: true },
    };
    expect(verdict(navigate)).toEqual(READ);
    expect(c(navigate).reasons).toContainEqual({
      code: 'annotation.open_world',
      message: 'open-world hint: the tool reaches external systems',
    });
    expect(verdict({ name: 'create_issue', annotations: { openWorldHint: true } })).toEqual(WRITE);
  });

  const RANK: Record<Access, number> = { read: 0, write: 1, admin: 2 };
  const word = fc.constantFrom(
    'get', 'list', 'delete', 'create', 'send', 'run', 'user', 'role', 'status', 'file', 'email', 'payment',
    'merge', 'request', 'and', 'to', 'undo', 'foo', 'query', 'settings', 'refund', 'post', 'comment',
  ); // prettier-ignore
  const name = fc
    .tuple(fc.array(word, { minLength: 1, maxLength: 4 }), fc.constantFrom('_', '-', '.', ''))
    .map(([ws, sep]) => ws.join(sep));
  const description = fc.option(
    fc
      .array(fc.oneof(word, fc.constantFrom('the', 'not', 'a', '.', 'Use', 'this', 'tool')), { maxLength: 8 })
      .map((ws) => ws.join(' ')),
    { nil: undefined },
  );
  const args = fc.option(
    fc.uniqueArray(
      fc.constantFrom('amount', 'to', 'sql', 'code', 'query', 'url', 'path', 'recipients', 'id'),
      {
        maxLength: 3,
      },
    ),
    { nil: undefined },
  );
  const hint = fc.option(fc.boolean(), { nil: undefined });
  const hints = fc.record({
    readOnlyHint: hint,
    destructiveHint: hint,
    idempotentHint: hint,
    openWorldHint: hint,
  });

  it('never lowers: annotations only raise tier, access and irreversibility (property)', () => {
    fc.assert(
      fc.property(name, description, args, hints, (n, d, a, h) => {
        const tool: McpTool = {
          name: n,
          description: d,
          inputSchema: a === undefined ? undefined : props(...a),
        };
        const bare = classify(tool);
        const hinted = classify({ ...tool, annotations: h });
        expect(hinted.tier).toBeGreaterThanOrEqual(bare.tier);
        expect(RANK[hinted.access]).toBeGreaterThanOrEqual(RANK[bare.access]);
        if (bare.irreversible) expect(hinted.irreversible).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('is consistent: admin is tier 3, a read is tier 1, reasons follow the style guide (property)', () => {
    fc.assert(
      fc.property(name, description, args, hints, (n, d, a, h) => {
        const result = classify({ name: n, description: d, inputSchema: a && props(...a), annotations: h });
        if (result.access === 'admin') expect(result.tier).toBe(3);
        expect(result.access === 'read').toBe(result.tier === 1);
        expect(result.reasons.length).toBeGreaterThan(0);
        for (const reason of result.reasons) {
          expect(reason.code).toMatch(/^[a-z]+\.[a-z_]+$/);
          expect(reason.message).toMatch(/^[a-z`]/);
          expect(reason.message).not.toMatch(/\.$/);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('classifyAll', () => {
  it('classifies a list and keeps the names', () => {
    expect(classifyAll([{ name: 'get_ticket' }, { name: 'delete_ticket' }])).toEqual([
      { name: 'get_ticket', ...classify({ name: 'get_ticket' }) },
      { name: 'delete_ticket', ...classify({ name: 'delete_ticket' }) },
    ]);
  });

  it('is fast enough for a scan of thousands of tools', () => {
    const tools: McpTool[] = Array.from({ length: 5000 }, (_, i) => ({
      name: `server${i}_get_or_create_user_role_${i}`,
      description: 'Use this tool to update the settings of a user. Returns the new settings.',
      inputSchema: props('user_id', 'role', 'amount', 'query', 'path'),
      annotations: { readOnlyHint: true, openWorldHint: true },
    }));
    const started = performance.now();
    classifyAll(tools);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('reason codes', () => {
  it('every reason code is exercised by this suite', () => {
    expect([...seenCodes].sort()).toEqual(
      [
        'annotation.destructive',
        'annotation.not_readonly',
        'annotation.open_world',
        'annotation.readonly',
        'annotation.readonly_conflict',
        'annotation.readonly_ignored',
        'arg.command',
        'arg.money',
        'arg.path',
        'arg.recipient',
        'arg.url',
        'noun.read',
        'object.admin',
        'object.code',
        'object.money',
        'unknown.default_high',
        'verb.admin',
        'verb.destructive',
        'verb.high_impact',
        'verb.read',
        'verb.write',
      ].sort(),
    );
  });
});

describe('description adjectives', () => {
  it('a verb-shaped word after a determiner does not raise a read', () => {
    const result = classify({
      name: 'read_file',
      description: 'Read the complete contents of a file from the file system.',
      inputSchema: { type: 'object', properties: { path: { type: 'string' } } },
    });
    expect(result).toMatchObject({ access: 'read', tier: 1 });
  });

  it('a later verb that is not after a determiner still counts', () => {
    const result = classify({ name: 'read_file', description: 'Read a file and delete it afterwards.' });
    expect(result.tier).toBe(3);
  });
});
