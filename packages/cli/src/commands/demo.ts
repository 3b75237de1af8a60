// `posture demo agent`: a scripted agent that exercises every control against the demo gateway.
import type { Register } from '../io.js';

export const registerDemo: Register = (program) => {
  program.command('demo').description('the bundled demo: a scripted agent against the demo company');
};
