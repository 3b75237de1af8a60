// Text exactly as recorded, with what a reader would not see spelled out: the same rule as the
// CLI's `escapeText` (packages/cli/src/commands/approvals.ts), kept in step by hand because the
// browser code cannot import the CLI. Hidden characters are shown as `\u{…}` in a marked span.
import { h } from './dom.js';

// Controls, format characters (zero-width, bidi overrides and isolates, tags), private-use,
// unassigned and surrogate code points, line and paragraph separators, spaces other than U+0020,
// and the blank-looking letters and marks that hide text.
const HIDDEN =
  // eslint-disable-next-line no-misleading-character-class
  /(?! )\p{Zs}|[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}\u034F\u115F\u1160\u17B4\u17B5\u180E\u3164\uFE00-\uFE0F\uFFA0\u{E0100}-\u{E01EF}]/gu;

const codePoint = (char: string) => char.codePointAt(0)!.toString(16);

/** Nodes for `text` with each hidden character as a visible, highlighted `\u{…}`. */
function withHiddenMarked(text: string): Node[] {
  const nodes: Node[] = [];
  let last = 0;
  for (const match of text.matchAll(HIDDEN)) {
    const index = match.index;
    if (index > last) nodes.push(document.createTextNode(text.slice(last, index)));
    const hex = codePoint(match[0]);
    nodes.push(
      h(
        'span',
        { class: 'hidden-char', title: `hidden character U+${hex.toUpperCase().padStart(4, '0')}` },
        `\\u{${hex}}`,
      ),
    );
    last = index + match[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

/** A value as text with backslashes doubled and hidden characters marked, so nothing is ambiguous. */
export function escapedText(text: string): HTMLSpanElement {
  return h('span', { class: 'exact' }, withHiddenMarked(text.replace(/\\/g, '\\\\')));
}

/** Text as it is (a file's lines), only with hidden characters marked. */
export function markedText(text: string): HTMLSpanElement {
  return h('span', null, withHiddenMarked(text));
}

/** Indented JSON with hidden characters marked (JSON already escapes backslashes and C0 controls). */
export function escapedJson(value: unknown): HTMLPreElement {
  const lines = (JSON.stringify(value, null, 2) ?? 'undefined').split('\n');
  return h(
    'pre',
    { class: 'exact json' },
    lines.map((line, index) => [index > 0 ? '\n' : null, withHiddenMarked(line)]),
  );
}

/** Whether a text holds anything `escapedText` would mark. */
export function hasHidden(text: string): boolean {
  return text.search(HIDDEN) !== -1;
}
