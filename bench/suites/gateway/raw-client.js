// The load generator's hot path: one keep-alive TCP connection per caller, a request written as
// one prepared buffer, the response read with a minimal HTTP/1.1 parser (Content-Length or
// chunked, JSON or SSE). Node's http client costs more CPU per call than the fastest server under
// test, and on a two-core machine every microsecond the client spends is taken from the servers,
// so the figures would measure the client (see reference/performance.md on load generators).
import net from 'node:net';
import { parse } from './client.js';

const CRLF = Buffer.from('\r\n\r\n');
// Request ids are unique across the connections that share a session: servers route answers by id.
let nextId = 1_000_000;

export class RawConnection {
  /** `headers`: the session's headers (authorization, mcp-session-id…) as an object. */
  constructor(url, headers) {
    this.url = new URL(url);
    this.head =
      `POST ${this.url.pathname} HTTP/1.1\r\nhost: ${this.url.host}\r\ncontent-type: application/json\r\n` +
      'accept: application/json, text/event-stream\r\nconnection: keep-alive\r\n' +
      Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
    this.buffer = Buffer.alloc(0);
    this.pending = undefined;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(this.url.port), this.url.hostname, () => {
        this.open = true;
        resolve();
      });
      this.socket = socket;
      this.buffer = Buffer.alloc(0);
      socket.setNoDelay(true);
      socket.once('error', reject);
      socket.on('data', (chunk) => this.#onData(chunk));
      socket.on('close', () => {
        this.open = false;
        this.pending?.reject(new Error('connection closed'));
      });
    });
  }

  /** Calls a tool; resolves with the JSON-RPC result, rejects on an HTTP or JSON-RPC error. */
  async call(name, args) {
    // Servers close keep-alive connections left idle (while the other contenders run): reconnect.
    if (!this.open) await this.connect();
    const id = nextId++;
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name, arguments: args },
    });
    return new Promise((resolve, reject) => {
      // A call that never completes fails the run, saying what arrived, instead of hanging it.
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no answer to ${id} from ${this.url}; received ${JSON.stringify(this.buffer.toString().slice(0, 400))}`,
            ),
          ),
        10_000,
      );
      this.pending = {
        id,
        resolve: (value) => (clearTimeout(timer), resolve(value)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      };
      this.socket.write(`${this.head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  }

  close() {
    this.socket?.destroy();
  }

  #onData(chunk) {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const response = this.#parse();
    if (!response) return;
    const { pending } = this;
    this.pending = undefined;
    if (response.status >= 400)
      return pending.reject(new Error(`HTTP ${response.status}: ${response.body.slice(0, 200)}`));
    const message = parse(response.body, response.sse ? 'text/event-stream' : 'application/json', pending.id);
    if (!message || message.error)
      return pending.reject(new Error(`call failed: ${JSON.stringify(message?.error ?? message)}`));
    pending.resolve(message.result);
  }

  /** One complete response from the buffer (consumed), or undefined while it is incomplete. */
  #parse() {
    const end = this.buffer.indexOf(CRLF);
    if (end < 0) return undefined;
    const head = this.buffer.toString('latin1', 0, end).toLowerCase();
    const status = Number(head.slice(9, 12));
    const sse = head.includes('content-type: text/event-stream');
    const length = /\r\ncontent-length: *(\d+)/.exec(head);
    let body;
    let consumed;
    if (length) {
      consumed = end + 4 + Number(length[1]);
      if (this.buffer.length < consumed) return undefined;
      body = this.buffer.toString('utf8', end + 4, consumed);
    } else if (head.includes('transfer-encoding: chunked')) {
      const parts = [];
      let at = end + 4;
      for (;;) {
        const line = this.buffer.indexOf('\r\n', at);
        if (line < 0) return undefined;
        const size = parseInt(this.buffer.toString('latin1', at, line), 16);
        if (this.buffer.length < line + 2 + size + 2) return undefined;
        if (size === 0) {
          consumed = line + 4;
          break;
        }
        parts.push(this.buffer.toString('utf8', line + 2, line + 2 + size));
        at = line + 2 + size + 2;
      }
      body = parts.join('');
    } else {
      return undefined; // a response without framing: not something the contenders send
    }
    this.buffer = this.buffer.subarray(consumed);
    return { status, sse, body };
  }
}
