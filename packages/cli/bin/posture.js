#!/usr/bin/env node
// The `posture` command as npm links it (`npx posture …`): the built CLI. It is a file of its own,
// in the repository, because npm links a command at install time only if its file exists then,
// and dist/ exists only once built (`npm start` and `npm run build` build it).
try {
  await import('../dist/bin.js');
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('dist/bin.js')) throw error;
  process.stderr.write('posture: the CLI is not built yet: run `npm run build` (or `npm start`) first\n');
  process.exitCode = 2;
}
