// @posture/console: the HTTP API and web UI over Posture's evidence store; the approvals desk.
export const CONSOLE_CLIENT_DIR = new URL('../dist/client/', import.meta.url);
