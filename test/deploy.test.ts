// The sample deployment, checked without a container engine: the Dockerfile copies paths that
// exist and passes only flags `posture gateway` has; the Kubernetes manifest parses, is wired
// together (Secrets, volumes, probes, labels) and locked down; its policy passes `posture check`
// and is the demo's; and the image's default command serves the probe path.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { main } from '../packages/cli/src/main.js';
import type { Io } from '../packages/cli/src/io.js';

const ROOT = resolve('.');
const DOCKERFILE = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
const MANIFEST_TEXT = readFileSync(join(ROOT, 'deploy/kubernetes/posture.yaml'), 'utf8');
const BIN = resolve('packages/cli/dist/bin.js');

async function posture(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = {
    stdout: (text) => ((out += text), true),
    stderr: (text) => void (err += text),
    drain: async () => {},
    stdin: async function* () {},
    readFile: async (path) => readFileSync(path, 'utf8'),
  };
  const code = await main(args, io);
  return { code, out, err };
}

/** Dockerfile instructions, with continuation lines joined. */
function instructions(text: string): Array<{ op: string; args: string }> {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [op, ...rest] = line.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

const flagsOf = (args: readonly string[]) =>
  args.filter((arg) => /^--[a-z]/.test(arg)).map((a) => a.split('=')[0]!);

async function gatewayFlags(): Promise<Set<string>> {
  const { code, out } = await posture(['gateway', '--help']);
  expect(code).toBe(0);
  return new Set([...out.matchAll(/(--[a-z][a-z-]*)/g)].map((m) => m[1]!));
}

interface K8sObject {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
  ports?: Array<{ name: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  securityContext?: Record<string, unknown>;
  startupProbe?: { httpGet: { path: string; port: string } };
  readinessProbe?: { httpGet: { path: string; port: string } };
  livenessProbe?: { httpGet: { path: string; port: string } };
}
interface PodSpec {
  securityContext: Record<string, unknown>;
  automountServiceAccountToken: boolean;
  initContainers: Container[];
  containers: Container[];
  volumes: Array<{ name: string; configMap?: { name: string }; secret?: { secretName: string } }>;
}

const documents = parseAllDocuments(MANIFEST_TEXT);
const objects = documents.map((doc) => doc.toJS() as K8sObject);
const byKind = (kind: string) => objects.find((o) => o.kind === kind)!;
const deployment = byKind('Deployment');
const pod = (deployment.spec as { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } })
  .template;
const gateway = pod.spec.containers.find((c) => c.name === 'gateway')!;

describe('deploy/Dockerfile', () => {
  const steps = instructions(DOCKERFILE);

  it('builds on node:20-bookworm-slim with npm ci and tsc -b, and runs as a non-root user', () => {
    const froms = steps.filter((s) => s.op === 'FROM').map((s) => s.args.split(' ')[0]);
    expect(froms).toEqual(['node:20-bookworm-slim', 'node:20-bookworm-slim']);
    const runs = steps.filter((s) => s.op === 'RUN').map((s) => s.args);
    expect(runs.some((r) => r.startsWith('npm ci'))).toBe(true);
    expect(runs.some((r) => r.includes('npx tsc -b'))).toBe(true);
    const users = steps.filter((s) => s.op === 'USER').map((s) => s.args);
    expect(users.at(-1)).toBe('node');
    expect(steps.some((s) => s.op === 'HEALTHCHECK')).toBe(true);
    expect(JSON.parse(steps.find((s) => s.op === 'ENTRYPOINT')!.args)).toEqual(['posture', 'gateway']);
    // `posture` on the PATH, executable: tsc writes bin.js without the mode npm gives linked bins.
    const bin = runs.find((r) => r.includes('/usr/local/bin/posture'))!;
    expect(bin).toMatch(/chmod 755 \/app\/packages\/cli\/dist\/bin\.js/);
    expect(bin).toContain('ln -s /app/packages/cli/dist/bin.js /usr/local/bin/posture');
    expect(readFileSync(join(ROOT, 'packages/cli/src/bin.ts'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
  });

  it('copies only paths that exist, and the manifest of every workspace', () => {
    const copies = steps.filter((s) => s.op === 'COPY' && !s.args.startsWith('--from'));
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      const parts = copy.args.split(' ');
      for (const source of parts.slice(0, -1)) expect(existsSync(join(ROOT, source)), source).toBe(true);
    }
    const copied = new Set(copies.flatMap((c) => c.args.split(' ').slice(0, -1)));
    const workspaces = readdirSync(join(ROOT, 'packages')).filter((name) =>
      existsSync(join(ROOT, 'packages', name, 'package.json')),
    );
    for (const name of workspaces) expect(copied, name).toContain(`packages/${name}/package.json`);
  });

  it('passes posture gateway only flags it has', async () => {
    const known = await gatewayFlags();
    const cmd = JSON.parse(steps.find((s) => s.op === 'CMD')!.args) as string[];
    expect(flagsOf(cmd).length).toBeGreaterThan(0);
    for (const flag of flagsOf(cmd)) expect(known, flag).toContain(flag);
  });

  it('serves the health check path with its default command (the demo policy) and no token', async () => {
    const cmd = JSON.parse(steps.find((s) => s.op === 'CMD')!.args) as string[];
    const health = /fetch\('http:\/\/127\.0\.0\.1:8700(\/[^']+)'\)/.exec(DOCKERFILE)![1]!;
    const args = cmd.map((arg, i) =>
      cmd[i - 1] === '--port' ? '0' : cmd[i - 1] === '--host' ? '127.0.0.1' : arg,
    );
    const dir = mkdtempSync(join(tmpdir(), 'posture-image-cmd-'));
    // In the image the working folder links examples/ from /app, as the repository root has it.
    const child = spawn(
      'node',
      [BIN, 'gateway', ...args, '--db', join(dir, 'posture.db'), '--key', join(dir, 'key.json')],
      {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    try {
      let stderr = '';
      const url = await new Promise<string>((resolveUrl, reject) => {
        const timer = setTimeout(() => reject(new Error(`gateway did not start: ${stderr}`)), 20_000);
        child.stderr!.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          const match = /posture gateway: (http:\/\/\S+)\/mcp/.exec(stderr);
          if (match) {
            clearTimeout(timer);
            resolveUrl(match[1]!);
          }
        });
        child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${stderr}`)));
      });
      expect(stderr).toContain('upstream northwind: up');
      const answer = await fetch(`${url}${health}`);
      expect(answer.status).toBe(200);
      expect(((await answer.json()) as { resource: string }).resource).toBe('http://localhost:8700/mcp');
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('deploy/kubernetes/posture.yaml', () => {
  it('parses, and holds the policy, two gateway replicas, their Service and a disruption budget', () => {
    for (const doc of documents) expect(doc.errors).toEqual([]);
    expect(objects.map((o) => o.kind)).toEqual(['ConfigMap', 'Deployment', 'Service', 'PodDisruptionBudget']);
    expect((deployment.spec as { replicas: number }).replicas).toBe(2);
    const service = byKind('Service').spec as {
      selector: Record<string, string>;
      ports: Array<{ targetPort: string }>;
    };
    expect(pod.metadata.labels).toMatchObject(service.selector);
    expect(gateway.ports!.map((p) => p.name)).toContain(service.ports[0]!.targetPort);
  });

  it('passes posture gateway only flags it has, and shares PostgreSQL, Redis and one audience', async () => {
    const known = await gatewayFlags();
    const args = gateway.args!;
    for (const flag of flagsOf(args)) expect(known, flag).toContain(flag);
    const value = (flag: string) => args[args.indexOf(flag) + 1];
    expect(value('--postgres')).toBe('$(POSTGRES_URL)');
    expect(value('--redis')).toBe('$(REDIS_URL)');
    expect(value('--audience')).toMatch(/^https:\/\/.+\/mcp$/);
    expect(value('--host')).toBe('0.0.0.0');
  });

  it('takes the database and Redis URLs and the keys from Secrets the header tells how to create', () => {
    const env = new Map(gateway.env!.map((e) => [e.name, e]));
    for (const [, name] of gateway.args!.join(' ').matchAll(/\$\(([A-Z_]+)\)/g)) {
      expect(env.get(name!)?.valueFrom?.secretKeyRef, name).toBeDefined();
    }
    const secrets = [
      ...gateway.env!.flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.name] : [])),
      ...pod.spec.volumes.flatMap((v) => (v.secret ? [v.secret.secretName] : [])),
    ];
    expect(new Set(secrets)).toEqual(new Set(['posture-database', 'posture-redis', 'posture-keys']));
    for (const secret of secrets) expect(MANIFEST_TEXT).toContain(`kubectl create secret generic ${secret}`);
    // The keys land where the gateway looks: --key, and .posture/audit.key under its working folder.
    const keyPath = gateway.args![gateway.args!.indexOf('--key') + 1]!;
    const keysMount = gateway.volumeMounts!.find((m) => m.name === 'keys')!;
    expect(keyPath.startsWith(`${keysMount.mountPath}/`)).toBe(true);
    expect(keysMount.mountPath).toBe('/var/lib/posture/.posture'); // the image's WORKDIR + .posture
    expect(DOCKERFILE).toContain('WORKDIR /var/lib/posture');
    expect(pod.spec.initContainers[0]!.args!.join(' ')).toContain('chmod 600');
  });

  it('runs locked down: non-root, read-only root, no privilege escalation, no capabilities', () => {
    expect(pod.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    for (const container of [...pod.spec.initContainers, ...pod.spec.containers]) {
      expect(container.securityContext, container.name).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
    }
    const volumes = new Set(pod.spec.volumes.map((v) => v.name));
    for (const container of [...pod.spec.initContainers, ...pod.spec.containers]) {
      for (const mount of container.volumeMounts ?? []) expect(volumes, mount.name).toContain(mount.name);
    }
  });

  it('probes the path the image health check uses, on the gateway port', () => {
    const health = /fetch\('http:\/\/127\.0\.0\.1:8700(\/[^']+)'\)/.exec(DOCKERFILE)![1]!;
    for (const probe of [gateway.startupProbe, gateway.readinessProbe, gateway.livenessProbe]) {
      expect(probe?.httpGet).toEqual({ path: health, port: 'http' });
    }
    expect(gateway.ports!.find((p) => p.name === 'http')!.containerPort).toBe(
      Number(gateway.args![gateway.args!.indexOf('--port') + 1]),
    );
  });

  it('is the base of a kustomization whose resources and image exist', () => {
    const kustomization = parse(readFileSync(join(ROOT, 'deploy/kubernetes/kustomization.yaml'), 'utf8')) as {
      resources: string[];
      images: Array<{ name: string }>;
    };
    for (const resource of kustomization.resources) {
      expect(existsSync(join(ROOT, 'deploy/kubernetes', resource)), resource).toBe(true);
    }
    const images = [...pod.spec.initContainers, ...pod.spec.containers].map((c) => c.image.split(':')[0]);
    expect(new Set(images)).toEqual(new Set(kustomization.images.map((i) => i.name)));
  });

  it('mounts a policy that passes posture check and is the demo’s', async () => {
    const text = byKind('ConfigMap').data!['posture.yaml']!;
    const policyArg = gateway.args![gateway.args!.indexOf('--policy') + 1]!;
    const policyMount = gateway.volumeMounts!.find((m) => m.name === 'policy')!;
    expect(policyArg).toBe(`${policyMount.mountPath}/posture.yaml`);
    const dir = mkdtempSync(join(tmpdir(), 'posture-deploy-'));
    try {
      writeFileSync(join(dir, 'posture.yaml'), text);
      const checked = await posture(['check', join(dir, 'posture.yaml')]);
      expect(checked.err + checked.out).toContain('no problems');
      expect(checked.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(parse(text)).toEqual(parse(readFileSync(join(ROOT, 'examples/demo/posture.yaml'), 'utf8')));
  });
});

describe('deploy/kubernetes/console.yaml', () => {
  const text = readFileSync(join(ROOT, 'deploy/kubernetes/console.yaml'), 'utf8');
  const docs = parseAllDocuments(text);
  const consoleObjects = docs.map((doc) => doc.toJS() as K8sObject);
  const find = (kind: string) => consoleObjects.find((o) => o.kind === kind)!;
  const consolePod = (
    find('Deployment').spec as { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } }
  ).template;
  const container = consolePod.spec.containers.find((c) => c.name === 'console')!;
  const value = (flag: string) => container.args![container.args!.indexOf(flag) + 1]!;

  it('parses, and holds two console replicas, their Service and a disruption budget, listed by the kustomization', () => {
    for (const doc of docs) expect(doc.errors).toEqual([]);
    expect(consoleObjects.map((o) => o.kind)).toEqual(['Deployment', 'Service', 'PodDisruptionBudget']);
    expect((find('Deployment').spec as { replicas: number }).replicas).toBe(2);
    expect(consolePod.metadata.labels).toMatchObject(
      (find('Service').spec as { selector: Record<string, string> }).selector,
    );
    const kustomization = parse(readFileSync(join(ROOT, 'deploy/kubernetes/kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    expect(kustomization.resources).toContain('console.yaml');
    // The policy it mounts is the gateway manifest's ConfigMap.
    expect(consolePod.spec.volumes.find((v) => v.name === 'policy')?.configMap?.name).toBe(
      byKind('ConfigMap').metadata.name,
    );
  });

  it('runs `posture console` (not the image entrypoint) with only flags it has, over the shared PostgreSQL', async () => {
    expect(DOCKERFILE).toContain('ENTRYPOINT ["posture", "gateway"]');
    expect(container.command).toEqual(['posture', 'console']);
    const { code, out } = await posture(['console', '--help']);
    expect(code).toBe(0);
    const known = new Set([...out.matchAll(/(--[a-z][a-z-]*)/g)].map((m) => m[1]!));
    for (const flag of flagsOf(container.args!)) expect(known, flag).toContain(flag);
    expect(value('--postgres')).toBe('$(POSTGRES_URL)');
    expect(container.env!.find((e) => e.name === 'POSTGRES_URL')?.valueFrom?.secretKeyRef?.name).toBe(
      'posture-database',
    );
    expect(value('--origin')).toMatch(/^https:\/\//);
    expect(value('--host')).toBe('0.0.0.0');
    expect(container.ports!.find((p) => p.name === 'http')!.containerPort).toBe(Number(value('--port')));
  });

  it('gets the audit signer key and the console key from posture-keys, with mode 0600', () => {
    const keysMount = container.volumeMounts!.find((m) => m.name === 'keys')!;
    expect(keysMount.mountPath).toBe('/var/lib/posture/.posture');
    expect(value('--console-key').startsWith(`${keysMount.mountPath}/`)).toBe(true);
    const init = consolePod.spec.initContainers[0]!.args!.join(' ');
    for (const key of ['audit.key', 'console.key']) {
      expect(init).toContain(`/etc/posture-keys/${key}`);
      expect(init).toMatch(new RegExp(`chmod 600 .*${key.replace('.', '\\.')}`));
    }
    expect(consolePod.spec.volumes.find((v) => v.name === 'key-secret')?.secret?.secretName).toBe(
      'posture-keys',
    );
    expect(text).toContain('--from-file=console.key=.posture/console.key');
  });

  it('runs locked down: non-root, read-only root, no privilege escalation, no capabilities', () => {
    expect(consolePod.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(consolePod.spec.automountServiceAccountToken).toBe(false);
    const volumes = new Set(consolePod.spec.volumes.map((v) => v.name));
    for (const c of [...consolePod.spec.initContainers, ...consolePod.spec.containers]) {
      expect(c.securityContext, c.name).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
      for (const mount of c.volumeMounts ?? []) expect(volumes, mount.name).toContain(mount.name);
    }
  });

  it('probes paths a running console answers without a login', async () => {
    const paths = [container.startupProbe, container.readinessProbe, container.livenessProbe].map(
      (p) => p!.httpGet.path,
    );
    const dir = mkdtempSync(join(tmpdir(), 'posture-deploy-console-'));
    writeFileSync(join(dir, 'posture.yaml'), byKind('ConfigMap').data!['posture.yaml']!);
    const child = spawn('node', [BIN, 'console', '--port', '0', '--policy', 'posture.yaml'], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolveUrl, reject) => {
        let stderr = '';
        const timer = setTimeout(() => reject(new Error(`console did not start: ${stderr}`)), 20_000);
        child.stderr!.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          const match = /posture console: (http:\/\/\S+?)\/? /.exec(stderr);
          if (match) {
            clearTimeout(timer);
            resolveUrl(match[1]!);
          }
        });
        child.once('exit', (code) => reject(new Error(`console exited ${code}: ${stderr}`)));
      });
      for (const path of new Set(paths)) {
        const answer = await fetch(`${url}${path}`);
        expect(answer.status, path).toBe(200);
      }
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
