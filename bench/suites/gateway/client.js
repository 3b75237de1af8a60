// A minimal MCP client over Streamable HTTP: POST JSON-RPC on keep-alive sockets, read a JSON or
// an SSE answer. The SDK's own client costs more per call than the servers under test, so the
// figures would measure it instead (see reference/performance.md).
import http from 'node:http';

export class MinimalClient {
  constructor(url, { token, concurrency = 16 } = {}) {
    this.url = new URL(url);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    this.headers = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    };
    this.nextId = 1;
  }

  post(body) {
    return new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const req = http.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: { ...this.headers, 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => {
            if (res.statusCode >= 400)
              return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
            resolve({ headers: res.headers, message: parse(text, res.headers['content-type'], body.id) });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async initialize() {
    const { headers } = await this.post({
      jsonrpc: '2.0',
      id: this.nextId++,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'bench', version: '1' },
      },
    });
    const session = headers['mcp-session-id'];
    if (session) this.headers['mcp-session-id'] = session;
    this.headers['mcp-protocol-version'] = '2025-06-18';
    await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' }).catch(() => {});
    return session;
  }

  async call(name, args) {
    const id = this.nextId++;
    const { message } = await this.post({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name, arguments: args },
    });
    if (!message || message.error)
      throw new Error(`call failed: ${JSON.stringify(message?.error ?? message)}`);
    return message.result;
  }

  close() {
    this.agent.destroy();
  }
}

/** A JSON-RPC answer from a response body: plain JSON, or the SSE event that carries `id`. */
export function parse(text, type, id) {
  if (text === '') return undefined;
  if (!String(type).includes('text/event-stream')) return JSON.parse(text);
  for (const line of text.split('\n')) {
    if (!line.startsWith('data:')) continue;
    const message = JSON.parse(line.slice(5));
    if (message.id === id) return message;
  }
  return undefined;
}
