// One MCP session over Streamable HTTP, for the gateway's own HTTP server. Each POSTed request is
// answered with plain JSON unless its handler sends something first (progress while a call waits
// for approval, an elicitation to confirm it): then that response turns into an SSE stream. Most
// calls never stream, and a JSON answer costs a fraction of an SSE one. Messages that belong to no
// request (tools/list_changed) go to the session's GET stream when the client holds one open.
//
// Requests the gateway sends the client (elicitation) get ids unique across replicas, so that
// when the client's answer reaches another replica (no session affinity), it can be relayed
// here, and never mistaken there for an answer to a request of its own.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  SUPPORTED_PROTOCOL_VERSIONS,
  isJSONRPCErrorResponse,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';

interface Exchange {
  res: ServerResponse;
  streaming: boolean;
}

export class SessionTransport implements Transport {
  readonly sessionId: string;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** Open HTTP responses by the id of the request they answer. */
  readonly #exchanges = new Map<RequestId, Exchange>();
  #stream: ServerResponse | undefined;
  #closed = false;
  /** The replayed `initialize` of a session taken up from the store, until it is answered. */
  #resuming: { id: RequestId; answered: () => void } | undefined;
  /** Requests sent to the client and not yet answered: the id the client saw → the server's. */
  readonly #asked = new Map<string, RequestId>();
  #asks = 0;
  /** An answer to a request another replica sent: the HTTP server relays it there. */
  onforeign?: (message: JSONRPCMessage) => void;

  /** Tells this transport's requests from another replica's for the same session. */
  readonly #nonce = randomUUID();

  constructor(sessionId: string) {
    this.sessionId = sessionId;
  }

  async start(): Promise<void> {}

  /** Handles one POSTed JSON-RPC message, already read and checked. */
  post(req: IncomingMessage, res: ServerResponse, message: JSONRPCMessage): void {
    const version = req.headers['mcp-protocol-version'];
    if (typeof version === 'string' && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      return reply(res, 400, error(null, -32600, `unsupported MCP-Protocol-Version \`${version}\``));
    }
    if (isJSONRPCRequest(message)) {
      if (this.#exchanges.has(message.id)) {
        return reply(res, 400, error(message.id, -32600, 'a request with this id is already in progress'));
      }
      this.#exchanges.set(message.id, { res, streaming: false });
      // A client that goes away no longer waits: its answer is dropped when it comes.
      res.once('close', () => {
        if (this.#exchanges.get(message.id)?.res === res) this.#exchanges.delete(message.id);
      });
      this.onmessage?.(message);
      return;
    }
    // Notifications and the client's answers to our requests (elicitation): accepted, no body.
    res.writeHead(202, { 'mcp-session-id': this.sessionId }).end();
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      if (!this.deliver(message)) this.onforeign?.(message);
      return;
    }
    this.onmessage?.(message);
  }

  /**
   * Hands the client's answer to the request it answers, if this transport sent it (locally, or
   * relayed from the replica the client posted it to). False when it did not.
   */
  deliver(message: JSONRPCMessage): boolean {
    const id = (message as { id?: unknown }).id;
    const original = typeof id === 'string' ? this.#asked.get(id) : undefined;
    if (original === undefined) return false;
    this.#asked.delete(id as string);
    this.onmessage?.({ ...message, id: original } as JSONRPCMessage);
    return true;
  }

  /** The session's stream for messages that belong to no request (GET). */
  listen(res: ServerResponse): void {
    if (this.#stream && !this.#stream.writableEnded) {
      return reply(res, 409, error(null, -32600, 'this session already has a stream open'));
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'mcp-session-id': this.sessionId,
    });
    res.write(': posture\n\n');
    this.#stream = res;
    res.once('close', () => {
      if (this.#stream === res) this.#stream = undefined;
    });
  }

  /**
   * Takes up a session another process opened: replays the client's `initialize` (and the
   * `initialized` that followed it) to the server, dropping its answer, which the client had.
   */
  async resume(init: JSONRPCMessage): Promise<void> {
    if (!isJSONRPCRequest(init)) throw new Error('a session is resumed from its initialize request');
    await new Promise<void>((answered) => {
      this.#resuming = { id: init.id, answered };
      this.onmessage?.(init);
    });
    this.onmessage?.({ jsonrpc: '2.0', method: 'notifications/initialized' });
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.#closed) return;
    if (isJSONRPCRequest(message)) {
      const unique = `posture-${this.#nonce}-${++this.#asks}`;
      // Unanswered ones (the server gave up on them) are forgotten past a bound.
      if (this.#asked.size >= 100) this.#asked.delete(this.#asked.keys().next().value!);
      this.#asked.set(unique, message.id);
      message = { ...message, id: unique };
    }
    const answer = isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message);
    const id = answer ? (message as { id: RequestId }).id : options?.relatedRequestId;
    if (answer && this.#resuming && this.#resuming.id === id) {
      this.#resuming.answered();
      this.#resuming = undefined;
      return;
    }
    const exchange = id === undefined ? undefined : this.#exchanges.get(id);
    if (!exchange) {
      // Unrelated to an open request: the GET stream, if the client keeps one.
      if (!answer && this.#stream && !this.#stream.writableEnded) this.#stream.write(event(message));
      return;
    }
    if (answer) {
      this.#exchanges.delete(id!);
      if (exchange.streaming) exchange.res.end(event(message));
      else reply(exchange.res, 200, message, this.sessionId);
      return;
    }
    if (!exchange.streaming) {
      exchange.streaming = true;
      exchange.res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        'mcp-session-id': this.sessionId,
      });
    }
    exchange.res.write(event(message));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const { res } of this.#exchanges.values()) if (!res.writableEnded) res.end();
    this.#exchanges.clear();
    if (this.#stream && !this.#stream.writableEnded) this.#stream.end();
    this.onclose?.();
  }
}

function event(message: JSONRPCMessage): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

function error(id: RequestId | null, code: number, message: string) {
  return { jsonrpc: '2.0', id, error: { code, message } } as unknown as JSONRPCMessage;
}

function reply(res: ServerResponse, status: number, message: unknown, sessionId?: string): void {
  if (res.writableEnded) return;
  const body = JSON.stringify(message);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
  });
  res.end(body);
}
