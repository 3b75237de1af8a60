// What a tool's definition may hide: invisible characters, and instructions aimed at the model
// rather than a description of the tool (tool poisoning), or at another server's tools
// (shadowing). Flags, not verdicts: the gateway raises alerts, the policy decides what to block.

// Zero-width and joiners, word joiner and invisible operators, BOM, bidi embeddings, overrides and
// isolates, tag characters, variation selectors: nothing a reader of the description sees.
const INVISIBLE =
  // eslint-disable-next-line no-misleading-character-class -- lone invisible code points, on purpose
  /[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\u{E0000}-\u{E007F}\uFE00-\uFE0F]/gu;

const INSTRUCTIONS: ReadonlyArray<[string, RegExp]> = [
  [
    'ignore_instructions',
    /\b(ignore|disregard|forget)\b.{0,20}\b(previous|prior|above|earlier|all)\b.{0,20}\binstructions?\b/i,
  ],
  ['hidden_tag', /<\s*(important|system|secret|hidden|instructions?)\s*>/i],
  [
    'conceal_from_user',
    /\b(do not|don't|never)\b.{0,20}\b(tell|mention|show|inform|reveal)\b.{0,30}\buser\b/i,
  ],
  [
    'sensitive_path',
    /(~\/\.ssh|id_rsa|\.aws\/credentials|mcp\.json|claude_desktop_config|\.env\b|\/etc\/passwd)/i,
  ],
  [
    'exfiltration',
    /\b(send|forward|upload|post|include)\b.{0,40}\b(contents?|keys?|credentials?|tokens?|passwords?|secrets?)\b/i,
  ],
];

export interface DefinitionFlag {
  code: string;
  message: string;
}

/** The flags a tool's description raises; `others` are the other servers' tool names (for shadowing). */
export function flagDescription(
  description: string | undefined,
  others: readonly string[] = [],
): DefinitionFlag[] {
  if (!description) return [];
  const flags: DefinitionFlag[] = [];
  const invisible = [...new Set(description.match(INVISIBLE) ?? [])];
  if (invisible.length > 0) {
    const points = invisible.map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`);
    flags.push({ code: 'invisible_characters', message: `the description hides ${points.join(', ')}` });
  }
  const visible = description.replace(INVISIBLE, '');
  for (const [code, pattern] of INSTRUCTIONS) {
    if (pattern.test(visible))
      flags.push({ code, message: `the description reads like instructions to the model (${code})` });
  }
  const named = others.filter((name) => name.length >= 4 && visible.includes(name));
  if (named.length > 0) {
    flags.push({
      code: 'shadowing',
      message: `the description speaks of other servers' tools: ${named.join(', ')}`,
    });
  }
  return flags;
}
