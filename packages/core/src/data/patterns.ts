// Custom patterns from the policy file are regular expressions written by users, run by a
// backtracking engine over untrusted text. `checkPattern` accepts only patterns whose work per
// starting position is small and bounded, so a scan stays linear in the text:
//
// - no backreferences (`\1`, `\k<name>`): matching them is NP-hard in general;
// - every quantifier has an upper bound of at most 1000 (`+`, `*` and `{n,}` are refused): an
//   unbounded quantifier makes an unanchored search quadratic (`a+b` on `aaaa…`);
// - a repeated group has a fixed width (`(?:ab){2,8}` yes, `(?:a+)+` or `(a|ab){1,9}` no), and
//   the branches of an alternation under a repetition start with different characters;
// - an estimate of the backtracking per starting position (the choices of quantifiers whose
//   characters overlap what follows them, multiplied) stays at or below 1000;
// - the pattern does not match the empty string.
//
// Nothing is executed: the pattern is parsed (after `new RegExp(source, 'u')` accepted it) and
// the rules are checked on the syntax tree, in time linear in the pattern's length.

export type PatternCheck = { ok: true } | { ok: false; reason: string };

export const MAX_QUANTIFIER = 1000;
export const MAX_WORK = 1000;

/** Checks a custom pattern; patterns run with the `u` flag. */
export function checkPattern(source: string): PatternCheck {
  if (typeof source !== 'string' || source.length === 0) return { ok: false, reason: 'the pattern is empty' };
  try {
    new RegExp(source, 'u');
  } catch (error) {
    return { ok: false, reason: `not a valid regular expression: ${(error as Error).message}` };
  }
  let tree: Node;
  try {
    tree = new Parser(source).parse();
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
  const problem = judge(tree);
  if (problem !== undefined) return { ok: false, reason: problem };
  if (tree.min === 0) return { ok: false, reason: 'the pattern matches the empty string' };
  return { ok: true };
}

/** The literal every match of an accepted pattern starts with ('' when there is none). */
export function literalPrefix(source: string): string {
  const tree = new Parser(source).parse();
  let prefix = '';
  const items = tree.kind === 'seq' ? tree.items : [tree];
  for (const item of items) {
    if (item.kind === 'assert') continue;
    if (item.kind !== 'char' || item.literal === undefined) break;
    prefix += item.literal;
  }
  return prefix;
}

// ---------------------------------------------------------------------------------------------

/** A set of characters: a bitmap of ASCII and a flag for anything above. */
class CharSet {
  constructor(
    readonly bits = new Uint32Array(4),
    public other = false,
  ) {}
  static any(): CharSet {
    return new CharSet(new Uint32Array([~0, ~0, ~0, ~0]), true);
  }
  add(from: number, to = from): this {
    for (let c = from; c <= Math.min(to, 127); c++) this.bits[c >> 5]! |= 1 << (c & 31);
    if (to > 127) this.other = true;
    return this;
  }
  union(o: CharSet): CharSet {
    const r = new CharSet(Uint32Array.from(this.bits), this.other || o.other);
    for (let k = 0; k < 4; k++) r.bits[k]! |= o.bits[k]!;
    return r;
  }
  complement(): CharSet {
    return new CharSet(
      this.bits.map((b) => ~b >>> 0),
      true,
    );
  }
  overlaps(o: CharSet): boolean {
    if (this.other && o.other) return true;
    for (let k = 0; k < 4; k++) if ((this.bits[k]! & o.bits[k]!) !== 0) return true;
    return false;
  }
}

type Node =
  | { kind: 'char'; set: CharSet; literal?: string; min: 1; max: 1; at: number }
  | { kind: 'seq'; items: Node[]; min: number; max: number; at: number }
  | { kind: 'alt'; branches: Node[]; min: number; max: number; at: number }
  | { kind: 'repeat'; body: Node; lo: number; hi: number; text: string; min: number; max: number; at: number }
  | { kind: 'look'; body: Node; min: 0; max: 0; at: number }
  | { kind: 'assert'; min: 0; max: 0; at: number }
  | { kind: 'backref'; min: 0; max: number; at: number };

const DIGIT = new CharSet().add(48, 57);
const WORD = new CharSet().add(48, 57).add(65, 90).add(97, 122).add(95);
const SPACE = new CharSet().add(9, 13).add(32).add(160, 0xffff);

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  parse(): Node {
    const node = this.alt();
    if (this.i < this.s.length) throw new Error(`unexpected \`${this.s[this.i]}\` at offset ${this.i}`);
    return node;
  }

  private alt(): Node {
    const at = this.i;
    const branches = [this.seq()];
    while (this.s[this.i] === '|') {
      this.i++;
      branches.push(this.seq());
    }
    if (branches.length === 1) return branches[0]!;
    return {
      kind: 'alt',
      branches,
      min: Math.min(...branches.map((b) => b.min)),
      max: Math.max(...branches.map((b) => b.max)),
      at,
    };
  }

  private seq(): Node {
    const at = this.i;
    const items: Node[] = [];
    while (this.i < this.s.length && this.s[this.i] !== '|' && this.s[this.i] !== ')') {
      items.push(this.quantified(this.atom()));
    }
    if (items.length === 1) return items[0]!;
    return {
      kind: 'seq',
      items,
      min: items.reduce((a, n) => a + n.min, 0),
      max: items.reduce((a, n) => a + n.max, 0),
      at,
    };
  }

  private quantified(atom: Node): Node {
    const at = this.i;
    const c = this.s[this.i];
    let lo: number;
    let hi: number;
    if (c === '*') [lo, hi] = [0, Infinity];
    else if (c === '+') [lo, hi] = [1, Infinity];
    else if (c === '?') [lo, hi] = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.s.slice(this.i));
      if (!m) return atom;
      lo = Number(m[1]);
      hi = m[2] === undefined ? lo : m[3] === '' ? Infinity : Number(m[3]);
      this.i += m[0].length - 1;
    } else return atom;
    this.i++;
    if (this.s[this.i] === '?') this.i++;
    const text = this.s.slice(at, this.i);
    return this.quantified({
      kind: 'repeat',
      body: atom,
      lo,
      hi,
      text,
      min: atom.min * lo,
      max: atom.max * hi,
      at,
    });
  }

  private atom(): Node {
    const at = this.i;
    const c = this.s[this.i++]!;
    switch (c) {
      case '(': {
        let look = false;
        if (this.s.startsWith('?:', this.i)) this.i += 2;
        else if (/^\?<?[=!]/.test(this.s.slice(this.i, this.i + 3))) {
          look = true;
          this.i += this.s[this.i + 1] === '<' ? 3 : 2;
        } else if (this.s.startsWith('?<', this.i)) this.i = this.s.indexOf('>', this.i) + 1;
        const body = this.alt();
        this.i++; // ')'
        return look ? { kind: 'look', body, min: 0, max: 0, at } : body;
      }
      case '[':
        return { kind: 'char', set: this.charClass(), min: 1, max: 1, at };
      case '.':
        return { kind: 'char', set: CharSet.any(), min: 1, max: 1, at };
      case '^':
      case '$':
        return { kind: 'assert', min: 0, max: 0, at };
      case '\\':
        return this.escape(at);
      default: {
        const code = this.s.codePointAt(at)!;
        if (code > 0xffff) this.i++;
        return {
          kind: 'char',
          set: new CharSet().add(code),
          literal: String.fromCodePoint(code),
          min: 1,
          max: 1,
          at,
        };
      }
    }
  }

  private escape(at: number): Node {
    const c = this.s[this.i++]!;
    const char = (set: CharSet, literal?: string): Node =>
      literal === undefined
        ? { kind: 'char', set, min: 1, max: 1, at }
        : { kind: 'char', set, literal, min: 1, max: 1, at };
    if (c === 'b' || c === 'B') return { kind: 'assert', min: 0, max: 0, at };
    if (/[1-9]/.test(c) || (c === 'k' && this.s[this.i] === '<')) {
      while (/\d/.test(this.s[this.i] ?? '')) this.i++;
      if (c === 'k') this.i = this.s.indexOf('>', this.i) + 1;
      return { kind: 'backref', min: 0, max: Infinity, at };
    }
    const set = this.escapeSet(c);
    if (set !== undefined) return char(set);
    const code = this.escapedCode(c);
    return char(new CharSet().add(code), String.fromCodePoint(code));
  }

  /** The set of a class escape (`\d`, `\p{L}`…), or undefined for a single character. */
  private escapeSet(c: string): CharSet | undefined {
    switch (c) {
      case 'd':
        return DIGIT;
      case 'D':
        return DIGIT.complement();
      case 'w':
        return WORD;
      case 'W':
        return WORD.complement();
      case 's':
        return SPACE;
      case 'S':
        return SPACE.complement();
      case 'p':
      case 'P':
        this.i = this.s.indexOf('}', this.i) + 1;
        return CharSet.any();
      default:
        return undefined;
    }
  }

  private escapedCode(c: string): number {
    const hex = (length: number) => {
      const code = parseInt(this.s.slice(this.i, this.i + length), 16);
      this.i += length;
      return code;
    };
    switch (c) {
      case 'n':
        return 10;
      case 'r':
        return 13;
      case 't':
        return 9;
      case 'v':
        return 11;
      case 'f':
        return 12;
      case '0':
        return 0;
      case 'c':
        return this.s.charCodeAt(this.i++) % 32;
      case 'x':
        return hex(2);
      case 'u':
        if (this.s[this.i] === '{') {
          const close = this.s.indexOf('}', this.i);
          const code = parseInt(this.s.slice(this.i + 1, close), 16);
          this.i = close + 1;
          return code;
        }
        return hex(4);
      default:
        return c.codePointAt(0)!;
    }
  }

  private charClass(): CharSet {
    let negate = false;
    if (this.s[this.i] === '^') {
      negate = true;
      this.i++;
    }
    let set = new CharSet();
    let previous = -1;
    while (this.i < this.s.length && this.s[this.i] !== ']') {
      let code: number;
      const c = this.s[this.i++]!;
      if (c === '\\') {
        const e = this.s[this.i++]!;
        const escaped = e === 'b' ? undefined : this.escapeSet(e);
        if (escaped !== undefined) {
          set = set.union(escaped);
          previous = -1;
          continue;
        }
        code = e === 'b' ? 8 : this.escapedCode(e);
      } else if (c === '-' && previous >= 0 && this.s[this.i] !== ']') {
        let to: number;
        const d = this.s[this.i++]!;
        if (d === '\\') to = this.escapedCode(this.s[this.i++]!);
        else {
          to = this.s.codePointAt(this.i - 1)!;
          if (to > 0xffff) this.i++;
        }
        set.add(previous, to);
        previous = -1;
        continue;
      } else {
        code = this.s.codePointAt(this.i - 1)!;
        if (code > 0xffff) this.i++;
      }
      set.add(code);
      previous = code;
    }
    this.i++; // ']'
    return negate ? set.complement() : set;
  }
}

// ---------------------------------------------------------------------------------------------

function first(node: Node): CharSet {
  switch (node.kind) {
    case 'char':
      return node.set;
    case 'seq': {
      let set = new CharSet();
      for (const item of node.items) {
        set = set.union(first(item));
        if (item.min > 0) break;
      }
      return set;
    }
    case 'alt':
      return node.branches.reduce((set, b) => set.union(first(b)), new CharSet());
    case 'repeat':
      return first(node.body);
    default:
      return new CharSet();
  }
}

/** The first rule `node` breaks, as a reason; undefined when it breaks none. */
function judge(root: Node): string | undefined {
  let problem: string | undefined;
  const fail = (reason: string) => {
    problem ??= reason;
    return Infinity;
  };
  // Estimated choices per starting position; `follow` is what may come right after `node`.
  const work = (node: Node, follow: CharSet, repeated: boolean): number => {
    switch (node.kind) {
      case 'char':
      case 'assert':
        return 1;
      case 'backref':
        return fail(`backreferences (at offset ${node.at}) can take exponential time`);
      case 'look':
        return work(node.body, new CharSet(), false);
      case 'seq': {
        let total = 1;
        for (let k = 0; k < node.items.length; k++) {
          let next = new CharSet();
          let nullable = true;
          for (let j = k + 1; j < node.items.length && nullable; j++) {
            next = next.union(first(node.items[j]!));
            nullable = node.items[j]!.min === 0;
          }
          if (nullable) next = next.union(follow);
          total *= work(node.items[k]!, next, repeated);
        }
        return total;
      }
      case 'alt': {
        if (repeated) {
          const firsts = node.branches.map(first);
          for (let x = 0; x < firsts.length; x++) {
            for (let y = x + 1; y < firsts.length; y++) {
              if (firsts[x]!.overlaps(firsts[y]!)) {
                return fail(
                  `the alternatives at offset ${node.at} can start with the same character under a repetition, which can take exponential time`,
                );
              }
            }
          }
        }
        return node.branches.reduce((sum, b) => sum + work(b, follow, repeated), 0);
      }
      case 'repeat': {
        if (node.hi === Infinity) {
          return fail(
            `the quantifier \`${node.text}\` at offset ${node.at} is unbounded: give it an upper bound such as \`{1,64}\``,
          );
        }
        if (node.hi > MAX_QUANTIFIER) {
          return fail(
            `the quantifier \`${node.text}\` at offset ${node.at} allows more than ${MAX_QUANTIFIER} repetitions`,
          );
        }
        const body = node.body;
        if (node.hi > 1 && body.min !== body.max) {
          return fail(
            `the quantifier \`${node.text}\` at offset ${node.at} repeats a part of variable length (a nested quantifier), which can take exponential time`,
          );
        }
        const inner = work(body, first(body).union(follow), node.hi > 1);
        const choices = node.hi - node.lo + 1;
        const overlapping = first(body).overlaps(follow);
        if (inner > 1 && node.hi > 1) return inner ** Math.min(node.hi, 8) * (overlapping ? choices : 1);
        return inner * (overlapping ? choices : 1);
      }
    }
  };
  const total = work(root, new CharSet(), false);
  if (problem !== undefined) return problem;
  if (total > MAX_WORK) {
    return `the pattern can backtrack about ${Number.isFinite(total) ? Math.round(total) : 'unboundedly'} ways at each position (at most ${MAX_WORK}): bound its quantifiers more tightly or separate them with characters they cannot match`;
  }
  if (root.max > 10_000) return 'the pattern can match more than 10000 characters';
  return undefined;
}
