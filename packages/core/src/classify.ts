import type { Access, Classification, McpTool, Reason, Tier } from './types.js';

// Automatic tool classification: access (read < write < admin), tier (1 read-only, 2 low-impact
// write, 3 high-impact write) and irreversibility, from a tool's name, title, description, argument
// names and MCP annotations. Every signal may only RAISE the verdict, and a tool that nothing
// places is a tier-3 write (`unknown.default_high`): classification errs upward, never downward.
//
// Trust. Names, descriptions and annotations all come from the upstream server. Annotations are
// hints (the MCP specification says so), so they may raise a verdict but never lower it:
// - `readOnlyHint: true` confirms a read verdict; on a tool the lexicon places as a write it is
//   ignored and flagged (`annotation.readonly_conflict`); on a tool the lexicon cannot place it is
//   also ignored (`annotation.readonly_ignored`), because accepting it would let an annotation turn
//   an unknown tier-3 write into a tier-1 read. Declare such a tool in posture.yaml instead.
// - `readOnlyHint: false` raises a read verdict to a tier-2 write.
// - `destructiveHint: true` makes at least a tier-3 write, irreversible (an idempotent deletion is
//   still a deletion, so `idempotentHint` changes nothing).
// - `openWorldHint: true` raises a tool that delivers content to people (send, post, share, or
//   takes a recipient) to tier 3: it reaches parties outside the system, the classic way data
//   leaves. Other open-world tools only get the reason. Sending stays tier 2 without the hint, but
//   `send`-like verbs are irreversible (a sent message cannot be recalled), so they need a
//   confirmation where the policy asks for one.

type VerbClass = 'read' | 'write' | 'high' | 'admin';
type Source = 'name' | 'title' | 'description';

interface VerbGroup {
  readonly cls: VerbClass;
  /** Message tail, e.g. "name verb `delete` is destructive". */
  readonly why: string;
  readonly words: string;
  readonly irreversible?: boolean;
  /** Delivers content to people (`send`, `post`, `share`): raised by `openWorldHint`. */
  readonly delivers?: boolean;
  /** Its object is whom it addresses (`email_user`): an admin-sounding object is not the target. */
  readonly addressee?: boolean;
  /** Runs something: with a code object (`run_command`) it executes code. */
  readonly runs?: boolean;
  /** Reverses the verb after it (`undo_delete`). */
  readonly undoes?: boolean;
}

interface Verb extends Required<Omit<VerbGroup, 'words'>> {
  readonly word: string;
  /** Also common as a noun (`get_release`): after a read verb it counts only when joined by `and`/`or`. */
  readonly noun: boolean;
}

// The verb lexicon. A word belongs to exactly one group (checked when the module loads).
const VERB_GROUPS: readonly VerbGroup[] = [
  {
    cls: 'read',
    why: 'reads',
    words:
      'get list search read fetch find query describe show view lookup look count check inspect download ' +
      'retrieve browse navigate visit explore discover enumerate scan poll peek preview print echo ping test ' +
      'validate verify lint diff compare analyze analyse summarize summarise explain extract parse calculate ' +
      'compute estimate convert translate transcribe render export tail grep cat ls stat whoami is has can ' +
      'exists load sample detect identify recognize recognise classify screenshot snapshot hover scroll wait ' +
      'return provide display observe monitor watch audit measure trace filter sort suggest recommend predict ' +
      'forecast plan ask think',
  },
  {
    cls: 'write',
    why: 'writes',
    words:
      'create add insert update edit modify patch put set change comment annotate draft label tag untag assign ' +
      'unassign reassign rename move copy duplicate clone fork open reopen close star unstar follow unfollow pin ' +
      'unpin bookmark archive unarchive mark unmark toggle enable register subscribe unsubscribe schedule ' +
      'reschedule reserve book join leave attach detach link unlink connect disconnect sync import append ' +
      'prepend replace upsert increment decrement generate init initialize setup resize resolve complete ' +
      'finish accept reject decline deny dismiss acknowledge ack snooze mute unmute escalate transition log ' +
      'record track review note react vote rate upload write save store commit click tap type fill press drag ' +
      'select focus undelete untrash make',
  },
  { cls: 'write', why: 'writes, reversing what follows', words: 'undo recover', undoes: true },
  { cls: 'write', why: 'sends content to others', words: 'post share invite tweet', delivers: true },
  {
    cls: 'write',
    why: 'sends content to others',
    words: 'reply respond message dm',
    delivers: true,
    addressee: true,
  },
  {
    cls: 'write',
    why: 'sends content to others and cannot be undone',
    words: 'send email mail sms notify forward broadcast alert page',
    delivers: true,
    addressee: true,
    irreversible: true,
  },
  {
    cls: 'high',
    why: 'is destructive',
    words:
      'delete del remove rm drop destroy purge truncate wipe erase shred expunge overwrite clear flush empty ' +
      'prune reset kill terminate void burn squash rebase',
    irreversible: true,
  },
  {
    cls: 'high',
    why: 'moves money',
    words:
      'pay transfer refund charge payout withdraw wire capture settle disburse donate buy purchase sell trade ' +
      'order checkout',
    irreversible: true,
  },
  {
    cls: 'high',
    why: 'publishes changes irreversibly',
    words: 'publish deploy release merge push force',
    irreversible: true,
  },
  {
    cls: 'high',
    why: 'is high-impact',
    words:
      'cancel rollback revert restore restart reboot stop shutdown halt suspend disable deactivate ban block ' +
      'lock unlock approve submit confirm apply migrate scale rotate expire evict quarantine isolate finalize ' +
      'promote demote provision deprovision',
  },
  {
    cls: 'high',
    why: 'runs jobs or workflows',
    words: 'run rerun trigger dispatch invoke launch spawn build compile call',
    runs: true,
  },
  { cls: 'write', why: 'starts something', words: 'start', runs: true },
  {
    cls: 'admin',
    why: 'runs arbitrary code',
    words:
      'exec execute eval evaluate shell bash sh zsh powershell pwsh cmd sudo ssh repl install uninstall interpret',
    irreversible: true,
    runs: true,
  },
  {
    cls: 'admin',
    why: 'changes access or configuration',
    words: 'grant revoke impersonate elevate authorize deauthorize chmod chown configure',
  },
];

// Verbs that are also common nouns in object position (`get_release`, `list_runs`, `get_merge_request`).
const NOUN_LIKE = words(
  'query count check view list test download print export snapshot sort filter plan return display ' +
    'update edit post comment draft label tag star set put patch change mark link sync import log record ' +
    'track review note vote rate commit type press select fill focus archive open close book schedule ' +
    'copy move upload order transfer refund charge payout capture wire trade release merge push deploy ' +
    'force run build call trigger dispatch reset kill empty lock block ban stop start restore ' +
    'message email mail sms share invite reply page alert forward grant shell cmd install',
);

/** Verbs whose object is what they bring about: `create_refund` refunds, `send_email` emails. */
const ENACTING = words('create add make submit send execute trigger start run schedule');

/** Nouns that say "this reads": used only when no verb is found at all (`deployment_status`). */
const READ_NOUNS = words(
  'status info information details detail history log logs stats statistics metrics metadata summary ' +
    'schema health usage version versions quota balance overview',
);

type ObjectClass = 'admin' | 'code' | 'money';
const OBJECTS: ReadonlyMap<string, ObjectClass> = new Map([
  ...entries<ObjectClass>(
    'admin',
    'permission permissions role roles acl acls policy policies privilege privileges access secret secrets ' +
      'credential credentials password passwords passphrase token tokens apikey apikeys api_key api_keys ' +
      'ssh_key ssh_keys access_key access_keys deploy_key deploy_keys signing_key gpg_key config configs ' +
      'configuration configurations setting settings user users member members membership memberships ' +
      'collaborator collaborators admin admins owner owners ownership account accounts iam sso mfa webhook ' +
      'webhooks env environment_variable environment_variables sudoers',
  ),
  ...entries<ObjectClass>(
    'code',
    'command commands cmd shell bash script scripts code python javascript js typescript ruby sql query ' +
      'queries program snippet expression notebook cell process terminal',
  ),
  ...entries<ObjectClass>('money', 'money funds fund payment payments payroll remittance'),
]);
const OBJECT_WHY: Readonly<Record<ObjectClass, string>> = {
  admin: 'concerns access control or configuration',
  code: 'is code to run',
  money: 'concerns money',
};

const CONJUNCTIONS = words('and or then plus also');
const PREPOSITIONS = words(
  'to from in into on onto for with by of at via within over under about as per using through',
);
/** Words skipped at the start of a description before its leading verb ("Use this tool to …"). */
const FILLER = words(
  'this tool tools function endpoint method api mcp will can may could should would to used use uses ' +
    'lets allows helps help you agent agents model llm assistant the a an it that which is are simply ' +
    'easily quickly please must be able for action operation perform performs here',
);
/** Words skipped when looking for an object's head noun (`update_the_user_id` → `user`). */
const HEAD_SKIP = words(
  'a an the this that these those my your its their our s all any some one each every given specified ' +
    'existing current selected specific single multiple id ids uuid new',
);
const NEGATORS = words('not never no without cannot doesn don won didn shouldn nor');

type ArgKind = 'money' | 'command' | 'recipient' | 'url' | 'path';
interface ArgRule {
  readonly kind: ArgKind;
  /** Ambiguous names count only when the tool or the argument's description mentions one of these. */
  readonly needs?: ReadonlySet<string>;
}
const SQL_HINTS = words(
  'sql database databases db table tables postgres postgresql mysql sqlite bigquery snowflake redshift ' +
    'clickhouse duckdb mssql oracle select warehouse cypher',
);
const EXEC_HINTS = words(
  'run runs execute executes exec eval evaluate evaluates python javascript js typescript ruby language ' +
    'interpreter sandbox program shell',
);
const RECIPIENT_HINTS = words(
  'email emails mail recipient recipients phone sms message messages send sends address addresses user users',
);
/** Matched on the whole argument name or its last word (`shell_command` → `command`). */
const ARG_NAMES: ReadonlyMap<string, ArgRule> = new Map<string, ArgRule>([
  ...rules(
    'money',
    'cents amount_cents bic swift swift_code account_number routing_number card_number sort_code',
  ),
  ...rules('command', 'command commands cmd shell bash script powershell'),
  ...rules(
    'command',
    'code source_code source expression expr statement program snippet javascript python js',
    EXEC_HINTS,
  ),
  ...rules('command', 'query', SQL_HINTS),
  ...rules('recipient', 'cc bcc to_email email_to to_address phone_number'),
  ...rules('recipient', 'to', RECIPIENT_HINTS),
  ...rules('url', 'url uri urls uris href link endpoint webhook website'),
  ...rules('path', 'path paths file files filename filepath directory dir folder'),
]);
/** Matched on any word of the argument name (`amount_in_cents`, `raw_sql`). */
const ARG_WORDS: ReadonlyMap<string, ArgRule> = new Map<string, ArgRule>([
  ...rules('money', 'amount iban payee beneficiary'),
  ...rules('command', 'sql'),
  ...rules('recipient', 'recipient recipients'),
]);
const ARG_WHY: Readonly<Record<ArgKind, string>> = {
  money: 'moves money',
  command: 'takes code to execute',
  recipient: 'names a recipient',
  url: 'reaches the network',
  path: 'names a file',
};

const VERBS: ReadonlyMap<string, Verb> = buildVerbs();
const ACCESS_RANK: Readonly<Record<Access, number>> = { read: 0, write: 1, admin: 2 };
const CLASS_RANK: Readonly<Record<VerbClass, number>> = { read: 0, write: 1, high: 2, admin: 3 };
const CLASS_ACCESS: Readonly<Record<VerbClass, Access>> = {
  read: 'read',
  write: 'write',
  high: 'write',
  admin: 'admin',
};
const CLASS_TIER: Readonly<Record<VerbClass, Tier>> = { read: 1, write: 2, high: 3, admin: 3 };
/** `verb.destructive` for irreversible tier-3 verbs (`delete`, `pay`), `verb.high_impact` for the rest. */
function verbCode(verb: Verb): string {
  if (verb.cls === 'high') return verb.irreversible ? 'verb.destructive' : 'verb.high_impact';
  return `verb.${verb.cls}`;
}

/** Classifies one MCP tool. Pure and total: any input, however malformed, gets a verdict. */
export function classify(tool: McpTool): Classification {
  const acc: Accumulator = { access: 'read', tier: 1, irreversible: false, reasons: [] };
  const name = typeof tool.name === 'string' ? tool.name.slice(0, 256) : '';
  const nameTokens = nameWords(name);
  const title = typeof tool.title === 'string' ? nameWords(tool.title.slice(0, 256)) : [];
  const sentence = textWords(firstSentence(typeof tool.description === 'string' ? tool.description : ''));

  // 1. Verbs: the name, the title and the leading verbs of the description's first sentence.
  const nameHits = scanName(nameTokens, 'name');
  const titleHits = scanName(title, 'title');
  const desc = scanDescription(sentence);
  const hits = [...nameHits, ...titleHits, ...desc.hits];
  const top = Math.max(-1, ...hits.map((h) => CLASS_RANK[h.verb.cls]));
  const explained = new Set<string>(); // one reason per verb group: `add_comment` needs one "writes"
  for (const hit of hits) {
    const { verb } = hit;
    if (CLASS_RANK[verb.cls] < top && !verb.irreversible) continue; // the strongest verbs explain it
    if (explained.has(verb.why)) continue;
    explained.add(verb.why);
    raise(
      acc,
      CLASS_ACCESS[verb.cls],
      CLASS_TIER[verb.cls],
      verb.irreversible,
      `${hit.source} verb ${show(hit.word)}`,
    );
    note(acc, verbCode(verb), `${hit.source} verb ${show(hit.word)} ${verb.why}`);
  }
  let unknown = false;
  if (hits.length === 0) {
    const readNoun = nameTokens.find((w) => READ_NOUNS.has(w));
    if (readNoun !== undefined) {
      note(acc, 'noun.read', `name word ${show(readNoun)} names something to read`);
    } else {
      unknown = true;
      raise(acc, 'write', 3, false);
      note(
        acc,
        'unknown.default_high',
        `no known verb in ${show(name)}: classified upward as a tier 3 write`,
      );
    }
  }

  // 2. Objects: `update_user_role` changes access control, `run_command` runs code, `send_money`
  //    moves money. An object counts with a verb of its own phrase (or any verb, or none at all).
  const allVerbs = hits.map((h) => h.verb);
  const objects: Array<[Source, string | undefined, Verb[]]> = [
    ['name', objectHead(nameTokens, 0, false), nameHits.map((h) => h.verb)],
    [
      'description',
      desc.leading < 0 ? undefined : objectHead(sentence, desc.leading + 1, true),
      desc.hits.map((h) => h.verb),
    ],
  ];
  for (const [source, head, own] of objects) {
    const cls = head === undefined ? undefined : OBJECTS.get(head);
    if (head === undefined || cls === undefined) continue;
    const verbs = own.length > 0 ? own : allVerbs;
    const applies =
      verbs.length === 0
        ? unknown
        : cls === 'admin'
          ? verbs.some((v) => v.cls !== 'read' && !v.addressee)
          : cls === 'code'
            ? verbs.some((v) => v.runs)
            : verbs.some((v) => v.cls !== 'read');
    if (!applies || acc.reasons.some((r) => r.code === `object.${cls}`)) continue;
    const label = `${source} object ${show(head.replace('_', ' '))}`;
    if (cls === 'money') raise(acc, 'write', 3, true, label);
    else raise(acc, 'admin', 3, cls === 'code', label);
    note(acc, `object.${cls}`, `${label} ${OBJECT_WHY[cls]}`);
  }

  // 3. Arguments. Money and recipients matter on tools that write; code arguments on any tool (a
  //    read-sounding tool that takes a shell command or raw SQL can do anything).
  const writes = acc.access !== 'read';
  const context = new Set([...nameTokens, ...sentence]);
  let delivers = hits.some((h) => h.verb.delivers);
  const seen = new Set<ArgKind>();
  for (const [arg, schema] of properties(tool.inputSchema)) {
    const kind = argKind(arg, schema, context);
    if (kind === undefined || seen.has(kind)) continue;
    if ((kind === 'money' || kind === 'recipient') && !writes) continue;
    seen.add(kind);
    const label = `argument ${show(arg)}`;
    if (kind === 'money') raise(acc, 'write', 3, true, label);
    if (kind === 'command') raise(acc, 'admin', 3, true, label);
    if (kind === 'recipient') delivers = true;
    note(acc, `arg.${kind}`, `${label} ${ARG_WHY[kind]}`);
  }

  // 4. Annotations: untrusted hints that may raise, never lower (see the top of this file).
  const hints = isRecord(tool.annotations) ? tool.annotations : {};
  const placedAs = { access: acc.access, culprit: acc.culprit };
  if (hints.destructiveHint === true) {
    raise(acc, 'write', 3, true);
    note(acc, 'annotation.destructive', 'destructive hint: at least a tier 3 write, irreversible');
  }
  if (hints.readOnlyHint === true) {
    if (hints.destructiveHint === true) {
      note(acc, 'annotation.readonly_conflict', 'read-only hint contradicts the destructive hint: ignored');
    } else if (placedAs.culprit !== undefined && placedAs.access !== 'read') {
      note(acc, 'annotation.readonly_conflict', `read-only hint contradicts ${placedAs.culprit}: ignored`);
    } else if (unknown) {
      note(
        acc,
        'annotation.readonly_ignored',
        'read-only hint alone does not place a tool without a known verb: declare it in the policy',
      );
    } else {
      note(acc, 'annotation.readonly', 'read-only hint agrees');
    }
  } else if (hints.readOnlyHint === false && acc.access === 'read') {
    raise(acc, 'write', 2, false);
    note(acc, 'annotation.not_readonly', 'read-only hint is `false`: at least a tier 2 write');
  }
  if (hints.openWorldHint === true) {
    if (delivers && acc.access !== 'read' && acc.tier < 3) {
      raise(acc, 'write', 3, false);
      note(
        acc,
        'annotation.open_world',
        'open-world hint on a tool that sends content to others: raised to tier 3',
      );
    } else {
      note(acc, 'annotation.open_world', 'open-world hint: the tool reaches external systems');
    }
  }

  return { access: acc.access, tier: acc.tier, irreversible: acc.irreversible, reasons: acc.reasons };
}

/** Classifies many tools, e.g. a whole `tools/list` result. */
export function classifyAll(tools: readonly McpTool[]): Array<{ name: string } & Classification> {
  return tools.map((tool) => ({ name: tool.name, ...classify(tool) }));
}

interface Accumulator {
  access: Access;
  tier: Tier;
  irreversible: boolean;
  reasons: Reason[];
  /** What last raised the verdict, for conflict messages. */
  culprit?: string;
}

interface Hit {
  readonly verb: Verb;
  readonly word: string;
  readonly source: Source;
}

function raise(acc: Accumulator, access: Access, tier: Tier, irreversible: boolean, culprit?: string): void {
  const up = ACCESS_RANK[access] > ACCESS_RANK[acc.access] || tier > acc.tier;
  if (ACCESS_RANK[access] > ACCESS_RANK[acc.access]) acc.access = access;
  if (tier > acc.tier) acc.tier = tier;
  if (irreversible) acc.irreversible = true;
  if (up && culprit !== undefined) acc.culprit = culprit;
}

function note(acc: Accumulator, code: string, message: string): void {
  if (!acc.reasons.some((r) => r.code === code && r.message === message)) acc.reasons.push({ code, message });
}

/**
 * Verbs of a tool name, in order. The first verb is the main one (`get_deployment_status`). A later
 * verb counts when joined by `and`/`or` (`get_or_create`), when it is never a noun (`read_write`),
 * or as the object of an enacting verb unless it modifies a noun (`create_refund` counts,
 * `create_merge_request` does not). `undo` cancels the verb after it (`undo_delete`).
 */
function scanName(tokens: readonly string[], source: Source): Hit[] {
  const hits: Hit[] = [];
  let main: Verb | undefined;
  let joined = false;
  let undone = false;
  for (const [i, word] of tokens.entries()) {
    if (CONJUNCTIONS.has(word)) {
      joined = true;
      undone = false;
      continue;
    }
    const verb = VERBS.get(word);
    if (verb !== undefined) {
      const next = tokens[i + 1];
      const endsPhrase =
        next === undefined || PREPOSITIONS.has(next) || CONJUNCTIONS.has(next) || VERBS.has(next);
      const counts =
        main === undefined || joined || (!undone && (!verb.noun || (ENACTING.has(main.word) && endsPhrase)));
      if (counts) {
        hits.push({ verb, word, source });
        main ??= verb;
        if (verb.undoes) undone = true;
      }
    }
    joined = false;
  }
  return hits;
}

/**
 * Verbs of a description's first sentence: the leading verb (within three words after filler such
 * as "Use this tool to"), then any later verb that is never a noun. Negated verbs ("does not
 * delete") do not count. Returns the index of the leading verb, or -1.
 */
function scanDescription(tokens: readonly string[]): { hits: Hit[]; leading: number } {
  const hits: Hit[] = [];
  let start = 0;
  while (start < tokens.length && FILLER.has(tokens[start] ?? '')) start++;
  let leading = -1;
  for (let i = start; i < Math.min(tokens.length, start + 3) && leading < 0; i++) {
    const verb = negated(tokens, i) ? undefined : inflected(tokens[i] ?? '', true);
    if (verb === undefined) continue;
    leading = i;
    hits.push({ verb, word: tokens[i] ?? '', source: 'description' });
  }
  for (let i = leading < 0 ? start : leading + 1; i < tokens.length; i++) {
    const verb = inflected(tokens[i] ?? '', false);
    // After a determiner a verb-shaped word is an adjective or a noun ("the complete contents").
    if (verb === undefined || verb.noun || negated(tokens, i) || DETERMINERS.has(tokens[i - 1] ?? ''))
      continue;
    hits.push({ verb, word: tokens[i] ?? '', source: 'description' });
  }
  return { hits, leading };
}

const DETERMINERS: ReadonlySet<string> = new Set(
  'the a an this that these those its their your our my his her each every all any some no'.split(' '),
);

function negated(tokens: readonly string[], i: number): boolean {
  return NEGATORS.has(tokens[i - 1] ?? '') || NEGATORS.has(tokens[i - 2] ?? '');
}

/** Looks a description word up, undoing `-s`, `-es`, `-ies` and, when allowed, `-ing`. */
function inflected(word: string, ing: boolean): Verb | undefined {
  if (word.length < 2) return undefined;
  const candidates = [word];
  if (word.endsWith('ies')) candidates.push(`${word.slice(0, -3)}y`);
  if (word.endsWith('es')) candidates.push(word.slice(0, -2));
  if (word.endsWith('s') && !word.endsWith('ss')) candidates.push(word.slice(0, -1));
  if (ing && word.length > 5 && word.endsWith('ing')) {
    const stem = word.slice(0, -3);
    candidates.push(stem, `${stem}e`);
    if (stem.at(-1) === stem.at(-2)) candidates.push(stem.slice(0, -1));
  }
  for (const candidate of candidates) {
    const verb = VERBS.get(candidate);
    if (verb !== undefined) return verb;
  }
  return undefined;
}

/**
 * The head noun of the object phrase: the last word before a preposition (and, in a sentence, a
 * conjunction) that is not a determiner or a pure verb; `api_key`-like pairs count as one word.
 */
function objectHead(tokens: readonly string[], from: number, stopAtConjunction: boolean): string | undefined {
  let head: string | undefined;
  for (let i = from; i < tokens.length; i++) {
    const word = tokens[i] ?? '';
    if (PREPOSITIONS.has(word) || (stopAtConjunction && CONJUNCTIONS.has(word))) break;
    if (HEAD_SKIP.has(word) || CONJUNCTIONS.has(word)) continue;
    const verb = VERBS.get(word);
    if (verb !== undefined && !verb.noun) continue;
    const pair = i > from ? `${tokens[i - 1]}_${word}` : undefined;
    head = pair !== undefined && OBJECTS.has(pair) ? pair : word;
  }
  return head;
}

function argKind(arg: string, schema: unknown, context: ReadonlySet<string>): ArgKind | undefined {
  const tokens = nameWords(arg.slice(0, 128));
  const last = tokens.at(-1);
  const rule =
    ARG_NAMES.get(tokens.join('_')) ??
    (last === undefined ? undefined : ARG_NAMES.get(last)) ??
    tokens.map((w) => ARG_WORDS.get(w)).find((r) => r !== undefined);
  if (rule === undefined) return undefined;
  if (rule.needs === undefined) return rule.kind;
  const needs = rule.needs;
  if ([...context].some((w) => needs.has(w))) return rule.kind;
  const own = isRecord(schema)
    ? textWords(
        [schema.description, schema.title, schema.format].filter((s) => typeof s === 'string').join(' '),
      )
    : [];
  return own.some((w) => needs.has(w)) ? rule.kind : undefined;
}

function properties(inputSchema: unknown): Array<[string, unknown]> {
  if (!isRecord(inputSchema) || !isRecord(inputSchema.properties)) return [];
  return Object.entries(inputSchema.properties).slice(0, 256);
}

/** Splits a tool name into lowercase words on `_`, `-`, `.`, `/`, spaces and camelCase. */
function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

function textWords(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

function firstSentence(text: string): string {
  const head = text.trimStart().slice(0, 1000);
  const end = /[.!?](?:\s|$)|\n/.exec(head);
  return end === null ? head : head.slice(0, end.index);
}

/** A user value for a message: in backticks, one line, at most 64 characters. */
function show(value: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/[\u0000-\u001f\u007f-\u009f`]/g, '?');
  return `\`${clean.length > 64 ? `${clean.slice(0, 63)}…` : clean}\``;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function words(text: string): ReadonlySet<string> {
  return new Set(text.split(/\s+/).filter((w) => w.length > 0));
}

function entries<T>(value: T, text: string): Array<[string, T]> {
  return [...words(text)].map((w) => [w, value]);
}

function rules(kind: ArgKind, text: string, needs?: ReadonlySet<string>): Array<[string, ArgRule]> {
  return entries(kind, text).map(([w]) => [w, needs === undefined ? { kind } : { kind, needs }]);
}

function buildVerbs(): ReadonlyMap<string, Verb> {
  const verbs = new Map<string, Verb>();
  for (const { words: list, ...group } of VERB_GROUPS) {
    for (const word of words(list)) {
      if (verbs.has(word)) throw new Error(`verb \`${word}\` is in two lexicon groups`);
      verbs.set(word, {
        cls: group.cls,
        why: group.why,
        irreversible: group.irreversible ?? false,
        delivers: group.delivers ?? false,
        addressee: group.addressee ?? false,
        runs: group.runs ?? false,
        undoes: group.undoes ?? false,
        word,
        noun: NOUN_LIKE.has(word),
      });
    }
  }
  return verbs;
}
