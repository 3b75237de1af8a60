// `posture console`: the web console and its HTTP API over the gateway's evidence store.
import type { Register } from '../io.js';

export const registerConsole: Register = (program) => {
  program.command('console').description('serve the web console (login, approvals desk, audit explorer)');
};
