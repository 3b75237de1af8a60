// A request body read and checked before anything parses it into the MCP SDK: a byte cap (413),
// JSON that parses, one message rather than a batch (batching is gone since MCP 2025-06-18), and a
// bound on nesting, so hostile input is a protocol error and never a crash or a stalled loop.
import type { IncomingMessage } from 'node:http';

export const MAX_DEPTH = 64;

export type BodyCheck =
  { ok: true; message: unknown } | { ok: false; status: number; code: number; message: string };

export async function readMessage(req: IncomingMessage, maxBytes: number): Promise<BodyCheck> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      req.resume(); // drain the rest without keeping it
      return tooLarge(maxBytes);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  // Nesting is bounded on the text, before JSON.parse builds anything.
  if (depthOf(text) > MAX_DEPTH) {
    return {
      ok: false,
      status: 400,
      code: -32600,
      message: `the message is nested deeper than ${MAX_DEPTH} levels`,
    };
  }
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return { ok: false, status: 400, code: -32700, message: 'parse error: the body is not JSON' };
  }
  if (Array.isArray(message)) {
    return {
      ok: false,
      status: 400,
      code: -32600,
      message: 'batches are not supported: send one JSON-RPC message per request',
    };
  }
  if (
    message === null ||
    typeof message !== 'object' ||
    (message as { jsonrpc?: unknown }).jsonrpc !== '2.0'
  ) {
    return { ok: false, status: 400, code: -32600, message: 'invalid request: not a JSON-RPC 2.0 message' };
  }
  return { ok: true, message };
}

function tooLarge(maxBytes: number): BodyCheck {
  return { ok: false, status: 413, code: -32600, message: `the message is larger than ${maxBytes} bytes` };
}

/** The deepest nesting of `[` and `{` outside strings. */
function depthOf(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) max = depth;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}
