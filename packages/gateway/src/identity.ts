/** Who is calling: proved by a token (HTTP) or given at start (stdio). */
export interface Identity {
  agent: string;
  user: string;
  /** The MCP session, or one per stdio connection; loop and flow state are kept per session. */
  session: string;
}
