// The benchmark's inputs, generated deterministically: a mixed text (prose, code, logs, JSON) with
// secrets and personal data sprinkled in, and small tool-argument-sized values (about 300 bytes
// each, the gateway's real workload). Both contenders scan exactly these strings.
import { ALNUM, DIGITS, HEX, createRng, values } from '../../../test/data/corpus/synth.js';

const WORDS = (
  'the of and to in is that for it as was with be by on not he this are or his from at which but ' +
  'have an they you were her all she there would their we him been has when who will more no if ' +
  'out so said what up its about into than them can only other new some could time these two may ' +
  'then do first any my now such like our over man me even most made after also did many before ' +
  'must through back years where much your way well down should because each just those people how ' +
  'too little state good very make world still own see men work long get here between both life ' +
  'being under never day same another know while last might us great old year off come since against ' +
  'go came right used take three deploy service request customer invoice refund account database ' +
  'cluster migration latency release rollback incident ticket agent policy approval budget session'
).split(' ');
const NAMES = [
  'Ada',
  'Grace',
  'Linus',
  'Margaret',
  'Ken',
  'Barbara',
  'Edsger',
  'Frances',
  'Renée',
  'José',
  'Zoë',
  'Łukasz',
];

function sentence(rng) {
  const n = rng.int(6, 22);
  const words = [];
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    if (r < 0.03) words.push(rng.pick(NAMES));
    else if (r < 0.05) words.push(String(rng.int(2, 2025)));
    else if (r < 0.055) words.push(`$${rng.int(1, 999)}.${rng.chars(DIGITS, 2)}`);
    else words.push(rng.pick(WORDS));
  }
  const text = words.join(' ');
  return text[0].toUpperCase() + text.slice(1) + rng.pick(['.', '.', '.', '?', '!', ':']);
}

function prose(rng) {
  const sentences = [];
  for (let i = rng.int(3, 8); i > 0; i--) sentences.push(sentence(rng));
  return `${sentences.join(' ')}\n\n`;
}

const IDENTS = [
  'items',
  'order',
  'total',
  'user',
  'request',
  'response',
  'config',
  'result',
  'session',
  'policy',
  'tool',
  'agent',
  'event',
  'count',
  'index',
  'value',
  'cache',
  'client',
];

function code(rng) {
  const a = rng.pick(IDENTS);
  const b = rng.pick(IDENTS);
  const fn = `${rng.pick(['get', 'load', 'parse', 'build', 'handle', 'update'])}${b[0].toUpperCase()}${b.slice(1)}`;
  return rng.pick([
    () =>
      `export async function ${fn}(${a}: ${a[0].toUpperCase()}${a.slice(1)}[], options = {}) {\n` +
      `  const ${b} = await fetch(\`/api/v1/${a}/\${${a}.id}?limit=${rng.int(10, 500)}\`);\n` +
      `  if (!${b}.ok) throw new Error(\`cannot load ${a}: \${${b}.status}\`);\n` +
      `  return ${a}.reduce((sum, item) => sum + item.price * item.quantity, 0);\n}\n\n`,
    () =>
      `def ${fn}(self, ${a}, timeout=${rng.int(1, 60)}):\n    """Return the ${b} for ${a}."""\n` +
      `    for i, row in enumerate(self.${b}):\n        if row["id"] == ${a}.id and i < ${rng.int(2, 99)}:\n` +
      `            return row.get("${b}", None)\n    raise KeyError(f"no ${b} for {${a}!r}")\n\n`,
    () =>
      `  const ${a} = new Map<string, number>();\n  for (const [key, ${b}] of Object.entries(input)) {\n` +
      `    ${a}.set(key, (${a}.get(key) ?? 0) + ${b}.length * ${rng.int(2, 16)});\n  }\n` +
      `  // TODO(${rng.pick(NAMES).toLowerCase()}): cache the ${b} (see #${rng.int(100, 9999)})\n`,
    () =>
      `import { ${fn} } from './${a}/${b}.js';\nimport ${a} from '@acme/${a}';\n\n` +
      `describe('${fn}', () => {\n  it('returns the ${b} of a ${a}', () => {\n` +
      `    expect(${fn}({ id: '${rng.chars(HEX, 8)}', version: '${rng.int(0, 9)}.${rng.int(0, 20)}.${rng.int(0, 30)}' })).toEqual(${rng.int(0, 999)});\n  });\n});\n\n`,
    () =>
      `.${a}-${b} {\n  color: #${rng.chars(HEX, 6)};\n  margin: ${rng.int(0, 32)}px ${rng.int(0, 32)}px;\n  font-size: ${rng.int(10, 24)}px;\n}\n\n`,
  ])();
}

function timestamp(rng) {
  return `2025-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}T${String(rng.int(0, 23)).padStart(2, '0')}:${String(rng.int(0, 59)).padStart(2, '0')}:${String(rng.int(0, 59)).padStart(2, '0')}.${rng.chars(DIGITS, 3)}Z`;
}

function uuid(rng) {
  const h = rng.chars(HEX, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
}

function logs(rng) {
  let out = '';
  for (let i = rng.int(5, 20); i > 0; i--) {
    out += rng.pick([
      () =>
        `${timestamp(rng)} INFO  http ${rng.pick(['GET', 'POST', 'PUT'])} /api/v1/${rng.pick(IDENTS)}/${rng.int(1, 99999)} ${rng.pick([200, 200, 201, 204, 404, 500])} ${rng.int(1, 900)}ms req=${uuid(rng)}\n`,
      () =>
        `${timestamp(rng)} WARN  worker job ${rng.pick(IDENTS)} retried (attempt ${rng.int(2, 5)}/5) after ${rng.int(100, 5000)}ms\n`,
      () =>
        `${timestamp(rng)} DEBUG cache hit ratio=${rng.next().toFixed(3)} size=${rng.int(1000, 900000)} keys=${rng.int(10, 9999)}\n`,
      () =>
        `[${timestamp(rng)}] ERROR ${rng.pick(IDENTS)}.service: connection reset by peer (errno ${rng.int(100, 130)})\n    at Socket.onread (node:net:${rng.int(100, 900)}:${rng.int(1, 40)})\n    at ${rng.pick(IDENTS)}.js:${rng.int(1, 400)}:${rng.int(1, 80)}\n`,
      () =>
        `${timestamp(rng)} INFO  deploy ${rng.pick(IDENTS)}@${rng.int(1, 9)}.${rng.int(0, 30)}.${rng.int(0, 99)} commit ${rng.chars(HEX, 40)} by ${rng.pick(NAMES).toLowerCase()}\n`,
    ])();
  }
  return out;
}

function json(rng) {
  return `${JSON.stringify(
    rng.pick([
      () => ({
        id: `ord_${rng.chars(ALNUM, 14)}`,
        created: timestamp(rng),
        amount: rng.int(100, 99999) / 100,
        currency: rng.pick(['EUR', 'USD']),
        items: [{ sku: `SKU-${rng.int(1000, 9999)}`, qty: rng.int(1, 9), price: rng.int(100, 9999) / 100 }],
        status: rng.pick(['paid', 'pending', 'refunded']),
      }),
      () => ({
        event: rng.pick(['tool.call', 'tool.result', 'session.start']),
        session: uuid(rng),
        tool: `${rng.pick(IDENTS)}/${rng.pick(['get', 'list', 'update'])}_${rng.pick(IDENTS)}`,
        latency_ms: rng.int(1, 2000),
        sha256: rng.chars(HEX, 64),
      }),
      () => ({
        name: `@acme/${rng.pick(IDENTS)}`,
        version: `${rng.int(0, 9)}.${rng.int(0, 20)}.${rng.int(0, 30)}`,
        dependencies: { zod: `^4.${rng.int(0, 9)}.${rng.int(0, 9)}`, yaml: `^2.${rng.int(0, 9)}.0` },
      }),
    ])(),
    null,
    rng.pick([0, 2]),
  )}\n`;
}

/** One sensitive item in a realistic context. */
function sprinkle(rng) {
  const kind = rng.pick(Object.keys(values).filter((k) => !k.startsWith('azure') && k !== 'password'));
  const value = values[kind](rng);
  return rng.pick([
    () => `${kind.toUpperCase()}=${value}\n`,
    () => `${timestamp(rng)} INFO  contact ${value} updated\n`,
    () => `${JSON.stringify({ field: kind, value })}\n`,
    () => `Please use ${value} for this one.\n`,
  ])();
}

/** About `size` characters of mixed text; a sensitive item every ~`every` characters. */
export function mixedText({ size = 10_000_000, seed = 42, every = 4000 } = {}) {
  const rng = createRng(seed);
  const parts = [];
  let length = 0;
  let nextSprinkle = every;
  while (length < size) {
    const part = rng.pick([prose, prose, code, code, logs, json])(rng);
    parts.push(part);
    length += part.length;
    if (length >= nextSprinkle) {
      const item = sprinkle(rng);
      parts.push(item);
      length += item.length;
      nextSprinkle += every;
    }
  }
  return asReceived(parts.join('').slice(0, size));
}

/**
 * A string as a server holds it after reading it off a socket: decoded from bytes. V8 keeps the
 * strings that JSON.stringify and concatenation build in other representations, which read more
 * slowly and would time the way the inputs were generated rather than the scanner.
 */
function asReceived(text) {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** `count` JSON-encoded tool arguments of about 300 bytes; about 5% carry a secret or personal data. */
export function smallValues({ count = 100_000, seed = 7 } = {}) {
  const rng = createRng(seed);
  const out = [];
  for (let i = 0; i < count; i++) {
    const sensitive = rng.chance(0.05) ? ` ${sprinkle(rng).trim()}` : '';
    const args = rng.pick([
      () => ({
        query: `SELECT id, status, total FROM orders WHERE customer_id = ${rng.int(1, 99999)} AND created_at > '2025-0${rng.int(1, 9)}-01' LIMIT ${rng.int(10, 100)}`,
        database: 'analytics',
        note: sentence(rng) + sensitive,
      }),
      () => ({
        channel: `#${rng.pick(IDENTS)}-alerts`,
        text: `${sentence(rng)} ${sentence(rng)}${sensitive}`,
        thread_ts: `${rng.int(1_700_000_000, 1_760_000_000)}.${rng.chars(DIGITS, 6)}`,
      }),
      () => ({
        path: `src/${rng.pick(IDENTS)}/${rng.pick(IDENTS)}.ts`,
        content: code(rng).slice(0, 220) + sensitive,
      }),
      () => ({
        ticket: rng.int(1000, 99999),
        comment: `${sentence(rng)} ${sentence(rng)}${sensitive}`,
        visibility: rng.pick(['internal', 'public']),
      }),
      () => ({
        url: `https://api.acme.io/v2/${rng.pick(IDENTS)}?page=${rng.int(1, 40)}&per_page=50`,
        method: 'GET',
        headers: { accept: 'application/json', 'x-request-id': uuid(rng) },
        body: sentence(rng) + sensitive,
      }),
    ])();
    let text = JSON.stringify(args);
    while (text.length < 260) {
      args.extra = `${args.extra ?? ''} ${rng.pick(WORDS)}`;
      text = JSON.stringify(args);
    }
    out.push(asReceived(text));
  }
  return out;
}
