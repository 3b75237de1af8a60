// The `posture` command as npm links it for `npx posture …`: npm links a command at install time
// only if its file exists then, and a fresh clone has no dist/ until it is built — so the command
// is a file kept in the repository, which runs the built CLI and, before a build, says what to do.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = resolve('packages/cli');
const manifest = JSON.parse(readFileSync(join(CLI, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  files: string[];
};
const lock = JSON.parse(readFileSync(resolve('package-lock.json'), 'utf8')) as {
  packages: Record<string, { bin?: Record<string, string> }>;
};

describe('the posture command', () => {
  it('is a file of the repository, not of the build, and the lock links the same one', () => {
    const bin = manifest.bin.posture!;
    expect(bin).not.toMatch(/dist\//);
    const tracked = execFileSync('git', ['ls-files', join('packages/cli', bin)], { encoding: 'utf8' }).trim();
    expect(tracked).toBe(join('packages/cli', bin.replace(/^\.\//, '')));
    expect(lock.packages['packages/cli']?.bin).toEqual({ posture: bin.replace(/^\.\//, '') });
    expect(manifest.files).toContain(bin.replace(/^\.\//, '').split('/')[0]);
  });

  it('runs the built CLI', () => {
    const out = execFileSync(
      'node',
      [join(CLI, manifest.bin.posture!), 'check', resolve('examples/demo/posture.yaml')],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    expect(out).toContain('no problems');
  });

  it('prints its version', () => {
    const version = (JSON.parse(readFileSync(join(CLI, 'package.json'), 'utf8')) as { version: string })
      .version;
    expect(
      execFileSync('node', [join(CLI, manifest.bin.posture!), '--version'], { encoding: 'utf8' }).trim(),
    ).toBe(version);
  });

  it('says to build first when there is no build yet', () => {
    const dir = mkdtempSync(join(tmpdir(), 'posture-unbuilt-'));
    try {
      cpSync(join(CLI, 'bin'), join(dir, 'bin'), { recursive: true });
      expect(existsSync(join(dir, 'dist'))).toBe(false);
      const run = spawnSync('node', [join(dir, manifest.bin.posture!), 'check'], { encoding: 'utf8' });
      expect(run.status).toBe(2);
      expect(run.stderr).toContain('the CLI is not built yet: run `npm run build`');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
