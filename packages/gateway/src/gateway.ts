// The gateway: an MCP server to agents in front of the catalog's upstream servers. Each agent
// session gets its own MCP `Server` bound to the identity its token proved; every tools/call goes
// through the enforcer. The gateway adds no policy of its own: it lists, maps names and adapts.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type CallToolResult,
  type Prompt,
  type ReadResourceResult,
  type RequestId,
  type Resource,
  type ResourceTemplate,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import {
  canReadResource,
  compile,
  compileRetrieval,
  createMemoryState,
  filterResourceRead,
  skeleton,
  type LabelledResource,
  type Reason,
  type RetrievalAccess,
  type CompiledPolicy,
  type Decision,
  type DecisionState,
  type McpTool,
  type PolicyFile,
} from '@posture/core';
import {
  ContextRules,
  createEnforcer,
  systemRealPath,
  type ArgumentGuardOptions,
  type CallResult,
  type ConfirmAnswer,
  type Enforcer,
} from '@posture/sdk';
import {
  createMemorySessionStore,
  toolDefinition,
  type ApprovalQueue,
  type AuditLog,
  type Counters,
  type ExceptionStore,
  type Inventory,
  type SessionOpenResult,
  type SessionRecord,
  type SessionStore,
  type StoredEvent,
} from '@posture/storage';
import { flagDescription, type DefinitionFlag } from './definitions.js';
import type { Identity } from './identity.js';
import { END_PLAN_TOOL, PLAN_KEY, PLAN_TOOL, PLAN_TOOLS, Plans } from './plans.js';
import { SharedSchemaValidator } from './schema-validator.js';

import { Upstream, type UpstreamOptions, type UpstreamStatus } from './upstreams.js';

/** One validator for every session's elicitation answers (the SDK would build one per session). */
const SHARED_VALIDATOR = new SharedSchemaValidator();

export interface GatewayOptions {
  policy: PolicyFile;
  /** How URL and path arguments are resolved (DNS, symlinks); default: this machine's. */
  guards?: ArgumentGuardOptions;
  audit: AuditLog;
  approvals: ApprovalQueue;
  exceptions?: ExceptionStore;
  state?: DecisionState;
  /** Limits shared with other gateway replicas (Redis, PostgreSQL); replaces `state`. */
  counters?: Counters;
  /**
   * Agent sessions, their token bindings and plans: shared with other replicas (Redis,
   * PostgreSQL) or kept across restarts (SQLite) so any of them serves a session; this
   * process's memory unless set. The gateway does not close it.
   */
  sessions?: SessionStore;
  clock?: () => number;
  redactionKey?: Uint8Array;
  failOpenReads?: boolean;
  upstream?: Omit<UpstreamOptions, 'onTools'>;
  /** Sees each call's audit event once recorded (anomaly detection, metrics): the enforcer's hook. */
  observe?: (event: StoredEvent) => void;
  /**
   * Wraps every enforcer the gateway makes (it makes a new one when the catalog changes): for
   * tracing, say, as `withSpans` from @posture/assess does.
   */
  decorate?: (enforcer: Enforcer) => Enforcer;
  /** Where tools seen and their approved definitions are kept; without it nothing is pinned. */
  inventory?: Inventory;
  /** New tools wait for a human to approve their definition instead of being pinned on first sight. */
  approveNewTools?: boolean;
  /** Upstream credentials (the tool identity), by server: headers for HTTP, env for stdio. */
  credentials?: Record<
    string,
    { identity?: string; headers?: Record<string, string>; env?: Record<string, string> }
  >;
  /**
   * How long a tools/call that needs approval waits for the decision, sending progress
   * notifications, when the client asked for progress. Past it, the call returns pending.
   */
  approvalWaitMs?: number;
  /** How often a waiting call looks at the approvals queue. */
  approvalPollMs?: number;
  /** Where an approver decides, shown in pending results (`{id}` is replaced). */
  approvalUrl?: string;
}

/** MCP's error for a resource that does not exist (or that the user may not know of). */
const RESOURCE_NOT_FOUND = -32002;

/** Why a disabled tool is refused, by what disabled it. */
const DISABLED_REASONS: Record<'new' | 'changed' | 'suspicious', (key: string) => Reason> = {
  changed: (key) => ({
    code: 'tool.definition_changed',
    message: `\`${key}\` changed its definition since it was approved; it is disabled until someone approves the new one`,
  }),
  new: (key) => ({
    code: 'tool.not_approved',
    message: `\`${key}\` is new and waits for approval of its definition`,
  }),
  suspicious: (key) => ({
    code: 'tool.suspicious',
    message: `\`${key}\` hides characters or instructions in its definition, or looks like another server's tool; it is blocked until someone approves it`,
  }),
};

/** Who pinned a definition seen for the first time (trust on first use). */
const FIRST_SEEN = 'posture:first-seen';

/** Separates server and tool in the names agents see: `tickets__get_ticket`. */
export const NAME_SEPARATOR = '__';

export class Gateway {
  readonly #options: GatewayOptions;
  readonly #upstreams = new Map<string, Upstream>();
  readonly #state: DecisionState;
  #compiled: CompiledPolicy;
  #enforcer: Enforcer;
  #context: ContextRules;
  readonly #retrieval: RetrievalAccess | undefined;
  /** Exposed tool name → `server/tool` and the definition agents see. */
  #exposed = new Map<string, { key: string; server: string; tool: McpTool }>();
  readonly #sessions = new Set<Server>();
  readonly #pending = new Set<Promise<void>>();
  readonly #sessionStore: SessionStore;
  readonly #plans: Plans;
  /** Tools not usable until a human approves their definition: `new` or `changed`. */
  readonly #disabled = new Map<string, 'new' | 'changed' | 'suspicious'>();

  constructor(options: GatewayOptions) {
    this.#options = options;
    this.#state = options.state ?? createMemoryState();
    this.#sessionStore = options.sessions ?? createMemorySessionStore();
    this.#plans = new Plans(this.#sessionStore, () => this.#now());
    this.#compiled = compile(options.policy);
    this.#retrieval = compileRetrieval(options.policy);
    this.#enforcer = this.#newEnforcer();
    this.#context = new ContextRules(this.#compiled);
    for (const [name, server] of Object.entries(options.policy.servers)) {
      if (!server.command && !server.url) continue; // a catalog entry with no way to reach it
      const credential = options.credentials?.[name];
      this.#upstreams.set(
        name,
        new Upstream(
          {
            name,
            ...(server.command ? { command: server.command } : {}),
            ...(server.url ? { url: server.url } : {}),
            env: { ...server.env, ...credential?.env },
            ...(credential?.headers ? { headers: credential.headers } : {}),
          },
          { ...options.upstream, onTools: (server, tools) => this.#track(this.#sighted(server, tools)) },
        ),
      );
    }
  }

  /** Connects every upstream (those that fail keep retrying in the background). */
  async start(): Promise<void> {
    await Promise.all([...this.#upstreams.values()].map((upstream) => upstream.start()));
    await Promise.all(this.#pending);
    this.#recompile();
  }

  /** Reads again which tools are approved (after someone approved a definition elsewhere). */
  async refreshInventory(): Promise<void> {
    const inventory = this.#options.inventory;
    if (!inventory) return;
    for (const [server, upstream] of this.#upstreams) {
      for (const tool of upstream.tools) {
        const key = `${server}/${tool.name}`;
        const status = (await inventory.tool(server, tool.name))?.status ?? 'new';
        if (status === 'approved') this.#disabled.delete(key);
        else this.#disabled.set(key, status);
      }
    }
    this.#recompile();
  }

  #track(work: Promise<void>): void {
    this.#pending.add(work);
    void work.finally(() => this.#pending.delete(work));
  }

  /**
   * A server listed its tools: record them in the inventory, pin each new definition (trust on
   * first use, or wait for approval under `approveNewTools`), disable a tool whose definition
   * no longer matches the approved one (a rug pull) until it is approved again, and alert on
   * changes and on descriptions that hide characters or instructions.
   */
  async #sighted(server: string, tools: readonly McpTool[]): Promise<void> {
    const inventory = this.#options.inventory;
    const now = new Date(this.#now());
    const blocking = this.#options.policy.servers[server]?.suspicious === 'block';
    try {
      // What the definitions hide, and names that look like another server's tools (shadowing).
      const others = [...this.#upstreams.entries()]
        .filter(([name]) => name !== server)
        .flatMap(([name, upstream]) =>
          upstream.tools.map((tool) => ({ key: `${name}/${tool.name}`, name: tool.name })),
        );
      const flagged = new Map<string, DefinitionFlag[]>();
      for (const tool of tools) {
        const flags = flagDescription(
          tool.description,
          others.map((other) => other.name),
        );
        const lookalikes = others.filter((other) => skeleton(other.name) === skeleton(tool.name));
        if (lookalikes.length > 0) {
          flags.push({
            code: 'lookalike_name',
            message: `the name looks like ${lookalikes.map((other) => `\`${other.key}\``).join(', ')}`,
          });
        }
        if (flags.length === 0) continue;
        flagged.set(tool.name, flags);
        await this.#enforcer.note({
          kind: 'alert',
          actor: {},
          tool: `${server}/${tool.name}`,
          detail: { alert: 'tool.suspicious_definition', flags, blocked: blocking },
        });
      }

      if (inventory) {
        const definitions = tools.flatMap((tool) => {
          try {
            return [toolDefinition(tool, server)];
          } catch {
            return []; // not a usable definition: never listed, never pinned
          }
        });
        const sightings = await inventory.recordTools(server, definitions, now);
        for (const sighting of sightings) {
          const key = `${server}/${sighting.name}`;
          let status = sighting.status;
          // A suspicious tool of a blocking server is never pinned on sight: a human approves it.
          const held = blocking && flagged.has(sighting.name);
          if (status === 'new' && !this.#options.approveNewTools && !held) {
            const pinned = await inventory.approve(server, sighting.name, sighting.hash, FIRST_SEEN, now);
            if (pinned.ok) status = pinned.tool.status;
          }
          if (status === 'approved') this.#disabled.delete(key);
          else this.#disabled.set(key, held && status === 'new' ? 'suspicious' : status);
          if (sighting.seen === 'changed' && status === 'changed') {
            await this.#enforcer.note({
              kind: 'alert',
              actor: {},
              tool: key,
              detail: {
                alert: 'tool.definition_changed',
                previous_hash: sighting.previous_hash,
                hash: sighting.hash,
                approved_hash: sighting.approved_hash,
              },
            });
          }
        }
      } else if (blocking) {
        // Without an inventory nothing can approve a definition: a flagged tool stays disabled.
        for (const tool of tools) {
          const key = `${server}/${tool.name}`;
          if (flagged.has(tool.name)) this.#disabled.set(key, 'suspicious');
          else this.#disabled.delete(key);
        }
      }
    } finally {
      this.#recompile();
    }
  }

  get policy(): CompiledPolicy {
    return this.#compiled;
  }

  get enforcer(): Enforcer {
    return this.#enforcer;
  }

  upstreamStatus(): Record<string, UpstreamStatus> {
    return Object.fromEntries([...this.#upstreams].map(([name, upstream]) => [name, upstream.status]));
  }

  /** The tools `identity` may call, as MCP tool definitions under their exposed names. */
  toolsFor(identity: Identity): Tool[] {
    const agent = this.#compiled.agents.get(identity.agent);
    if (!agent || !agent.runBy.has(identity.user)) return [];
    const tools: Tool[] = [];
    for (const [name, { key, tool }] of this.#exposed) {
      const plan = agent.plans.get(key);
      // Listed when some grant covers it at its level and no unconditional deny removes it.
      if (!plan || plan.fixed || plan.denies.some((deny) => deny.checks.length === 0)) continue;
      if (this.#disabled.has(key)) continue;
      tools.push({
        ...(tool as Tool),
        name,
        inputSchema: (tool.inputSchema ?? { type: 'object' }) as Tool['inputSchema'],
      });
    }
    return tools;
  }

  /** A new MCP server for one agent session; connect it to the session's transport. */
  serverFor(identity: Identity): Server {
    const server = new Server(
      { name: 'posture-gateway', version: '0.1.0' },
      {
        capabilities: { tools: { listChanged: true }, resources: {}, prompts: {} },
        jsonSchemaValidator: SHARED_VALIDATOR,
      },
    );
    server.setRequestHandler(ListToolsRequestSchema, () => {
      const tools = this.toolsFor(identity);
      // The plan tools are the gateway's own, for any agent that has tools to plan with.
      return { tools: tools.length > 0 ? [...tools, ...PLAN_TOOLS] : tools };
    });
    this.#passThrough(server, identity);
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const args = request.params.arguments ?? {};
      if (request.params.name === PLAN_TOOL) return this.#declarePlan(identity, args);
      if (request.params.name === END_PLAN_TOOL) {
        const ended = await this.#plans.end(identity.session);
        return { content: [{ type: 'text', text: ended ? 'the plan has ended' : 'no plan was active' }] };
      }
      const exposed = this.#exposed.get(request.params.name);
      if (!exposed) throw new McpError(ErrorCode.InvalidParams, `unknown tool \`${request.params.name}\``);
      const progressToken = request.params._meta?.progressToken;
      // A confirmation goes to the user by URL-mode elicitation when the client can open one and
      // there is an approval page to point at; else by a form, when the client can show one (an
      // empty `elicitation` capability means forms); else it is handled as an approval.
      const elicitation = server.getClientCapabilities()?.elicitation as
        { form?: object; url?: object } | undefined;
      const byUrl = elicitation?.url !== undefined && this.#options.approvalUrl !== undefined;
      const canElicit =
        elicitation !== undefined &&
        !byUrl &&
        (elicitation.form !== undefined || elicitation.url === undefined);
      const call = { ...identity, tool: exposed.key, args };
      const upstream = this.#upstreams.get(exposed.server)!;
      const credential = this.#options.credentials?.[exposed.server];
      const options = {
        target: upstream.target,
        ...(credential?.identity ? { toolIdentity: credential.identity } : {}),
        ...(canElicit
          ? {
              confirm: (_: unknown, decision: Decision) =>
                confirmByElicitation(server, exposed.key, args, decision, extra.requestId),
            }
          : {}),
      };
      const execute = ({ signal, args: sent }: { signal: AbortSignal; args: Record<string, unknown> }) =>
        upstream.callTool(exposed.tool.name, sent, { signal });

      /** Refuses the call before the policy is asked, for `reason`, with its one audit event. */
      const refuse = async (reason: Reason, rule: string) =>
        toToolResult(await this.#enforcer.refuse(call, reason, [rule], options), this.#options.approvalUrl);

      const disabled = this.#disabled.get(exposed.key);
      if (disabled) return refuse(DISABLED_REASONS[disabled](exposed.key), 'inventory');
      let step: Awaited<ReturnType<Plans['match']>>;
      try {
        step = await this.#plans.match(identity.session, exposed.key, args);
      } catch (error) {
        // Which plan holds cannot be known: refuse rather than run a call a plan might forbid.
        const message = `the session store is unavailable: ${(error as Error).message}`;
        return refuse({ code: 'state.unavailable', message }, 'posture.plan');
      }
      if (step.kind === 'gone') {
        return refuse(
          { code: 'session.ended', message: 'this session has ended; open a new one' },
          'session',
        );
      }
      if (step.kind === 'outside') {
        const message = `\`${exposed.key}\` with these arguments is not a remaining step of the active plan (next: ${step.expected.join(', ')}); end the plan or declare a new one`;
        return refuse({ code: 'plan.outside', message }, 'posture.plan');
      }
      const covered =
        step.kind === 'step' && step.approvalId ? { covered: { approvalId: step.approvalId } } : {};
      let result = await this.#enforcer.call(call, execute, { ...options, ...covered });
      const waitMs = this.#options.approvalWaitMs ?? 60_000;
      if (result.status === 'pending' && byUrl && result.decision.decision === 'confirm') {
        const confirmed = await this.#confirmByUrl(server, exposed.key, result.approval.id, waitMs, extra);
        if (confirmed === 'declined') {
          // The request stays pending until it expires; nothing ran. (Its one audit event is the
          // pending one already written.)
          const answer = toToolResult(result, this.#options.approvalUrl);
          return {
            ...answer,
            isError: true,
            content: [
              { type: 'text', text: 'the user did not open the approval page; the call did not run' },
            ],
          };
        }
        if (confirmed === 'approved') result = await this.#enforcer.call(call, execute, options);
      } else if (result.status === 'pending' && progressToken !== undefined && waitMs > 0) {
        const decided = await this.#awaitApproval(
          result.approval.id,
          waitMs,
          extra.signal,
          async (progress) => {
            await extra.sendNotification({
              method: 'notifications/progress',
              params: {
                progressToken,
                progress,
                message: `waiting for approval ${result.status === 'pending' ? result.approval.id : ''}`,
              },
            });
          },
        );
        if (decided) result = await this.#enforcer.call(call, execute, options);
      }
      const answer = toToolResult(result, this.#options.approvalUrl);
      if (step.kind !== 'step') return answer;
      if (result.status === 'ok') {
        await this.#plans.done(identity.session, step.index);
        return answer;
      }
      // A step that did not run through: the plan ends, and the agent learns how to undo the rest.
      const undo = await this.#plans.failed(identity.session, step.index);
      const text = `step ${step.index + 1} of the plan did not complete; the plan has ended.${undo.length > 0 ? ` ${undo.join('; ')}.` : ''}`;
      return { ...answer, content: [...answer.content, { type: 'text', text }] };
    });
    this.#sessions.add(server);
    server.onclose = () => this.#sessions.delete(server);
    return server;
  }

  async #declarePlan(identity: Identity, args: Record<string, unknown>): Promise<CallToolResult> {
    const visible = new Set(this.toolsFor(identity).map((tool) => tool.name));
    const declared = await this.#plans.declare(identity, args, {
      policy: this.#compiled,
      approvals: this.#options.approvals,
      now: this.#now(),
      toKey: (name) => {
        const byName = visible.has(name) ? this.#exposed.get(name)?.key : undefined;
        return (
          byName ??
          [...this.#exposed.entries()].find(([exposed, e]) => e.key === name && visible.has(exposed))?.[1].key
        );
      },
    });
    const outcome =
      declared.kind === 'active' ? 'allowed' : declared.kind === 'pending' ? 'pending' : 'denied';
    await this.#enforcer.note({
      kind: 'call',
      actor: { user: identity.user, agent: identity.agent },
      session: identity.session,
      tool: PLAN_KEY,
      args,
      decision: declared.kind === 'active' ? 'allow' : declared.kind === 'pending' ? 'approve' : 'deny',
      outcome,
      ...(declared.kind !== 'refused' && declared.approvalId ? { approval_id: declared.approvalId } : {}),
    });
    switch (declared.kind) {
      case 'active':
        return {
          content: [
            {
              type: 'text',
              text: `the plan is active: ${declared.plan.steps.length} step(s)${declared.approvalId ? `, covered by approval ${declared.approvalId}` : ''}; only its steps may be called until it completes or you end it`,
            },
          ],
          _meta: { posture: { plan: 'active', approval_id: declared.approvalId } },
        };
      case 'pending':
        return {
          isError: true,
          content: [
            {
              type: 'text',
              text: `the plan needs approval (${declared.needs.join('; ')}). Request ${declared.approvalId} waits for ${declared.approvers.join(', ')} until ${declared.expiresAt}; declare the same plan again once it is approved`,
            },
          ],
          _meta: { posture: { plan: 'pending', approval_id: declared.approvalId } },
        };
      case 'refused':
        return {
          isError: true,
          content: [{ type: 'text', text: `the plan is refused: ${declared.message}` }],
        };
    }
  }

  /**
   * Resources and prompts pass through from the servers the agent may use at all (it has some tool
   * of theirs), resources filtered by their labels for the acting user (`data.retrieval`).
   */
  #passThrough(server: Server, identity: Identity): void {
    const reachable = () => {
      const names = new Set(this.toolsFor(identity).map((tool) => this.#exposed.get(tool.name)!.server));
      return [...names].flatMap((name) => {
        const client = this.#upstreams.get(name)?.client;
        return client ? [{ name, client }] : [];
      });
    };
    const access = () => this.#retrieval;
    const visible = (resource: LabelledResource) => {
      const rules = access();
      // Without data.retrieval nothing is labelled-filtered; reachability already applies.
      return rules ? canReadResource(rules, identity.user, resource) : true;
    };
    const located = new Map<string, string>();

    server.setRequestHandler(ListResourcesRequestSchema, async () => {
      const resources: Resource[] = [];
      for (const { name, client } of reachable()) {
        if (!client.getServerCapabilities()?.resources) continue;
        for (const resource of (await client.listResources()).resources) {
          if (!visible(resource)) continue;
          located.set(resource.uri, name);
          resources.push(resource);
        }
      }
      return { resources };
    });
    server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => {
      const resourceTemplates: ResourceTemplate[] = [];
      for (const { client } of reachable()) {
        if (!client.getServerCapabilities()?.resources) continue;
        resourceTemplates.push(...(await client.listResourceTemplates()).resourceTemplates);
      }
      return { resourceTemplates };
    });
    server.setRequestHandler(ReadResourceRequestSchema, async (request) => {
      const uri = request.params.uri;
      const candidates = reachable().filter(
        ({ name, client }) =>
          client.getServerCapabilities()?.resources && (!located.has(uri) || located.get(uri) === name),
      );
      for (const { name, client } of candidates) {
        let result: ReadResourceResult;
        try {
          result = await client.readResource({ uri });
        } catch {
          continue; // not this server's
        }
        const rules = access();
        const readable = rules ? filterResourceRead(rules, identity.user, result).result : result;
        if (readable.contents.length === 0) break; // every content withheld: answer as for an unknown resource
        return this.#screen(name, uri, readable);
      }
      throw new McpError(RESOURCE_NOT_FOUND, `resource \`${uri}\` not found`);
    });
    server.setRequestHandler(ListPromptsRequestSchema, async () => {
      const prompts: Prompt[] = [];
      for (const { name, client } of reachable()) {
        if (!client.getServerCapabilities()?.prompts) continue;
        for (const prompt of (await client.listPrompts()).prompts) {
          prompts.push({ ...prompt, name: `${name}${NAME_SEPARATOR}${prompt.name}` });
        }
      }
      return { prompts };
    });
    server.setRequestHandler(GetPromptRequestSchema, async (request) => {
      const at = request.params.name.indexOf(NAME_SEPARATOR);
      const target = reachable().find(({ name }) => name === request.params.name.slice(0, at));
      if (at < 0 || !target)
        throw new McpError(ErrorCode.InvalidParams, `unknown prompt \`${request.params.name}\``);
      const name = request.params.name.slice(at + NAME_SEPARATOR.length);
      return this.#screen(target.name, name, await target.client.getPrompt({ ...request.params, name }));
    });
  }

  /** A prompt or resource as `data.rules` let it reach the model: redacted, or refused whole. */
  #screen<T>(server: string, name: string, value: T): T {
    const screened = this.#context.screen(server, name, value);
    if (!screened.ok)
      throw new McpError(ErrorCode.InvalidRequest, `withheld by ${screened.rule}: ${screened.message}`);
    return screened.value as T;
  }

  /** Waits until the request is decided (true when approved), expires, or the wait runs out. */
  /**
   * Sends the user to the approval page of a confirmation by URL-mode elicitation, then waits
   * (up to `waitMs`) for the decision there, telling the client when it is done.
   */
  async #confirmByUrl(
    server: Server,
    tool: string,
    id: string,
    waitMs: number,
    extra: { requestId: RequestId; signal: AbortSignal; sendNotification: (n: never) => Promise<void> },
  ): Promise<'approved' | 'declined' | 'undecided'> {
    const url = this.#options.approvalUrl!.replace('{id}', encodeURIComponent(id));
    const answer = await server
      .elicitInput(
        {
          mode: 'url',
          message: `\`${tool}\` needs confirmation: open the approval page to review the exact call`,
          url,
          elicitationId: id,
        },
        { relatedRequestId: extra.requestId, signal: extra.signal, timeout: waitMs },
      )
      .catch(() => ({ action: 'cancel' as const }));
    if (answer.action !== 'accept') return 'declined';
    try {
      const decided = await this.#awaitApproval(id, waitMs, extra.signal, async () => {});
      return decided ? 'approved' : 'undecided';
    } finally {
      await server
        .createElicitationCompletionNotifier(id, { relatedRequestId: extra.requestId })()
        .catch(() => {});
    }
  }

  async #awaitApproval(
    id: string,
    waitMs: number,
    signal: AbortSignal,
    progress: (step: number) => Promise<void>,
  ): Promise<boolean> {
    const poll = this.#options.approvalPollMs ?? 250;
    const until = Date.now() + waitMs;
    for (let step = 1; Date.now() < until && !signal.aborted; step++) {
      await new Promise((resolve) => setTimeout(resolve, poll));
      const request = await this.#options.approvals.get(id, new Date(this.#now()));
      if (!request || request.status === 'denied' || request.status === 'expired') return false;
      if (request.status === 'approved') return true;
      await progress(step).catch(() => {});
    }
    return false;
  }

  /** Rebuilds the catalog from the policy and what the upstreams list; state carries over. */
  #recompile(): void {
    const discovered: Record<string, McpTool[]> = {};
    for (const [name, upstream] of this.#upstreams) {
      if (upstream.tools.length > 0) discovered[name] = [...upstream.tools];
    }
    this.#compiled = compile(this.#options.policy, { discovered });
    this.#enforcer = this.#newEnforcer();
    this.#context = new ContextRules(this.#compiled);
    const exposed = new Map<string, { key: string; server: string; tool: McpTool }>();
    for (const [server, tools] of Object.entries(discovered)) {
      for (const tool of tools) {
        const key = `${server}/${tool.name}`;
        if (!this.#compiled.catalog.has(key)) continue;
        exposed.set(`${server}${NAME_SEPARATOR}${tool.name}`, { key, server, tool });
      }
    }
    this.#exposed = exposed;
    for (const server of this.#sessions) void server.sendToolListChanged().catch(() => {});
  }

  #newEnforcer(): Enforcer {
    const o = this.#options;
    const enforcer = createEnforcer({
      policy: this.#compiled,
      audit: o.audit,
      approvals: o.approvals,
      state: this.#state,
      ...(o.exceptions ? { exceptions: o.exceptions } : {}),
      ...(o.counters ? { counters: o.counters } : {}),
      ...(o.clock ? { clock: o.clock } : {}),
      ...(o.redactionKey ? { redactionKey: o.redactionKey } : {}),
      ...(o.failOpenReads ? { failOpenReads: true } : {}),
      ...(o.observe ? { observe: o.observe } : {}),
      // Stdio servers run on this machine, so a path argument's symlinks are followed here.
      guards: o.guards ?? { realPath: systemRealPath },
    });
    return o.decorate ? o.decorate(enforcer) : enforcer;
  }

  /** The gateway's clock (the enforcer's): ms since the epoch. */
  #now(): number {
    return (this.#options.clock ?? Date.now)();
  }

  /**
   * Opens an agent session in the session store for a verified token: `replay` when the token
   * already opened one, in this process or any sharing the store.
   */
  async openSession(session: {
    id: string;
    agent: string;
    user: string;
    jti: string;
    expiresAtMs: number;
    init: unknown;
  }): Promise<SessionOpenResult> {
    const { expiresAtMs, ...rest } = session;
    const now = this.#now();
    const opened = await this.#sessionStore.open({ ...rest, expires_at: expiresAtMs }, now);
    // The inventory's agents: who has connected, and when last. Not evidence: a failure to
    // record it does not refuse the session.
    if (opened.ok) await this.#options.inventory?.recordAgent(session.agent, new Date(now)).catch(() => {});
    return opened;
  }

  /** A live session opened here or by another process sharing the store. */
  findSession(id: string): Promise<SessionRecord | undefined> {
    return this.#sessionStore.get(id, this.#now());
  }

  /** Ends a session everywhere (the client's DELETE). */
  endSession(id: string): Promise<void> {
    return this.#sessionStore.end(id);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#sessions].map((server) => server.close().catch(() => {})));
    await Promise.all([...this.#upstreams.values()].map((upstream) => upstream.close()));
  }
}

/**
 * Asks the user through MCP elicitation (form mode) whether to run the call. The question goes on
 * the call's own response stream, which reaches the client whichever replica serves the call.
 */
async function confirmByElicitation(
  server: Server,
  tool: string,
  args: Record<string, unknown>,
  decision: Decision,
  callId: RequestId,
): Promise<ConfirmAnswer> {
  const why = decision.reasons.map((reason) => reason.message).join('; ');
  const answer = await server.elicitInput(
    {
      message: `Run \`${tool}\` with ${JSON.stringify(args)}? ${why}`,
      requestedSchema: {
        type: 'object',
        properties: { confirm: { type: 'boolean', title: 'Run this call', description: why } },
        required: ['confirm'],
      },
    },
    { relatedRequestId: callId },
  );
  if (answer.action !== 'accept') return answer.action;
  return answer.content?.confirm === true ? 'accept' : 'decline';
}

/** A tool result for the agent: what the tool returned, or an error the model can read and adapt to. */
export function toToolResult(result: CallResult, approvalUrl?: string): CallToolResult {
  const posture = (decision?: Decision, more: Record<string, unknown> = {}) => ({
    posture: {
      ...(decision ? { decision: decision.decision, rules: decision.rules, reasons: decision.reasons } : {}),
      ...more,
    },
  });
  switch (result.status) {
    case 'ok': {
      const value = result.result as CallToolResult | undefined;
      return value && Array.isArray(value.content)
        ? value
        : { content: [{ type: 'text', text: JSON.stringify(value) }] };
    }
    case 'denied': {
      const why = result.decision.reasons.map((r) => `${r.message} (${r.code})`).join('; ');
      return {
        isError: true,
        content: [
          { type: 'text', text: `denied by policy: ${why}; rule ${result.decision.rules.join(', ')}` },
        ],
        _meta: posture(result.decision),
      };
    }
    case 'pending': {
      const id = result.approval.id;
      const where = approvalUrl
        ? ` at ${approvalUrl.replace('{id}', id)}`
        : ` with \`posture approvals approve ${id}\``;
      return {
        isError: true,
        content: [
          {
            type: 'text',
            text:
              `approval required: ${result.decision.reasons.map((r) => r.message).join('; ')}. ` +
              `Request ${id} is waiting for ${result.approval.approvers.join(', ')}${where}; ` +
              `it expires at ${result.approval.expires_at}. Retry the same call once it is approved.`,
          },
        ],
        _meta: posture(result.decision, { approval_id: id, expires_at: result.approval.expires_at }),
      };
    }
    case 'failed':
      return {
        isError: true,
        content: [{ type: 'text', text: `the tool failed: ${result.error}` }],
        _meta: posture(result.decision, { event: result.event.seq }),
      };
    case 'timed_out':
      return {
        isError: true,
        content: [
          {
            type: 'text',
            text: `the tool did not answer within ${result.decision.obligations.timeout_ms} ms; the call was cancelled`,
          },
        ],
        _meta: posture(result.decision, { event: result.event.seq }),
      };
    case 'error':
      return {
        isError: true,
        content: [{ type: 'text', text: `${result.message} (${result.code})` }],
        _meta: posture(result.decision),
      };
  }
}
