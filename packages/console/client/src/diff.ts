// A line diff of two texts (longest common subsequence), to show what changed in a tool's
// definition since a human approved it. Definitions are small; past a size it gives up and
// shows both whole, rather than spend the browser's time.
import { h } from './dom.js';
import { markedText } from './escape.js';

export interface DiffLine {
  kind: 'same' | 'removed' | 'added';
  text: string;
}

const MAX_LINES = 600;

export function lineDiff(before: readonly string[], after: readonly string[]): DiffLine[] {
  if (before.length > MAX_LINES || after.length > MAX_LINES) {
    return [
      ...before.map((text) => ({ kind: 'removed' as const, text })),
      ...after.map((text) => ({ kind: 'added' as const, text })),
    ];
  }
  // lengths[i][j]: the LCS length of before[i..] and after[j..]
  const lengths = Array.from({ length: before.length + 1 }, () =>
    new Array<number>(after.length + 1).fill(0),
  );
  for (let i = before.length - 1; i >= 0; i--) {
    for (let j = after.length - 1; j >= 0; j--) {
      lengths[i]![j] =
        before[i] === after[j]
          ? lengths[i + 1]![j + 1]! + 1
          : Math.max(lengths[i + 1]![j]!, lengths[i]![j + 1]!);
    }
  }
  const lines: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < before.length && j < after.length) {
    if (before[i] === after[j]) {
      lines.push({ kind: 'same', text: before[i]! });
      i++;
      j++;
    } else if (lengths[i + 1]![j]! >= lengths[i]![j + 1]!) {
      lines.push({ kind: 'removed', text: before[i++]! });
    } else {
      lines.push({ kind: 'added', text: after[j++]! });
    }
  }
  while (i < before.length) lines.push({ kind: 'removed', text: before[i++]! });
  while (j < after.length) lines.push({ kind: 'added', text: after[j++]! });
  return lines;
}

const PREFIX = { same: '  ', removed: '- ', added: '+ ' } as const;

/** Two values as indented JSON, diffed line by line, hidden characters marked. */
export function jsonDiff(before: unknown, after: unknown): HTMLPreElement {
  const lines = lineDiff(
    (JSON.stringify(before, null, 2) ?? 'undefined').split('\n'),
    (JSON.stringify(after, null, 2) ?? 'undefined').split('\n'),
  );
  return h(
    'pre',
    { class: 'diff' },
    lines.map((line) =>
      h('span', { class: `diff-line diff-${line.kind}` }, PREFIX[line.kind], markedText(line.text)),
    ),
  );
}
