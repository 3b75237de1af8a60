// Retrieval access control on what reaches the agent: a retrieval tool's documents that the acting
// user may not read are dropped (data.retrieval); a result that cannot be read as a list of
// documents is withheld whole, never passed on unfiltered.
import { filterRetrievalResult, type RetrievalAccess } from '@posture/core';

export type RetrievalOutcome =
  { ok: true; value: unknown; withheld: number } | { ok: false; code: string; message: string };

interface ToolResultShape {
  content: Array<{ type: string; text?: string }>;
  structuredContent?: unknown;
}

export function filterRetrieval(
  access: RetrievalAccess | undefined,
  user: string,
  result: unknown,
): RetrievalOutcome {
  if (!access) {
    return {
      ok: false,
      code: 'retrieval.no_readers',
      message:
        'the tool returns labelled documents, but the policy has no `data.retrieval` saying who may read them',
    };
  }
  if (!isToolResult(result)) {
    const filtered = filterRetrievalResult(access, user, result);
    return filtered.ok ? { ok: true, value: filtered.value, withheld: filtered.withheld } : filtered;
  }
  // An MCP tool result: the structured content and every text content carry the documents.
  let withheld = 0;
  const out: ToolResultShape = { ...result, content: [] };
  if (result.structuredContent !== undefined) {
    const filtered = filterRetrievalResult(access, user, result.structuredContent);
    if (!filtered.ok) return filtered;
    out.structuredContent = filtered.value;
    withheld += filtered.withheld;
  }
  for (const item of result.content) {
    if (item.type !== 'text') {
      return {
        ok: false,
        code: 'retrieval.not_json',
        message: `a \`${item.type}\` content cannot be filtered by labels`,
      };
    }
    const filtered = filterRetrievalResult(access, user, item.text ?? '');
    if (!filtered.ok) return filtered;
    out.content.push({ ...item, text: filtered.value as string });
    if (result.structuredContent === undefined) withheld += filtered.withheld;
  }
  return { ok: true, value: out, withheld };
}

function isToolResult(value: unknown): value is ToolResultShape {
  return (
    typeof value === 'object' && value !== null && Array.isArray((value as { content?: unknown }).content)
  );
}
