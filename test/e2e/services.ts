/**
 * Services a scale test starts for itself from Debian packages: redis-server and nginx, each on a
 * free port with its files in a temporary directory; a missing binary fails loudly.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, REPO_ROOT } from './harness.js';

export interface RunningService {
  port: number;
  stop(): Promise<void>;
  logs(): string;
}

function findBinary(name: string, debianPackage: string): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} is missing: install the Debian package "${debianPackage}" (apt-get install ${debianPackage}).`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function startProcess(binary: string, args: string[], port: number, dir: string): Promise<RunningService> {
  const child: ChildProcess = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.once('exit', () => child.kill('SIGKILL'));
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null) throw new Error(`${path.basename(binary)} exited at start:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${path.basename(binary)} did not listen on ${port} within 10 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    logs: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** redis-server on a free loopback port, no persistence. */
export async function startRedis(): Promise<RunningService & { url: string }> {
  const binary = findBinary('redis-server', 'redis-server');
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'test-redis-'));
  const service = await startProcess(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], port, dir);
  return { ...service, url: `redis://127.0.0.1:${port}` };
}

/**
 * nginx from deploy/nginx.conf with the values a loopback run needs: its port, a certificate,
 * the upstream instances, and its own prefix for pid, logs and temp files (no root needed).
 */
export async function startNginx(options: { certPath: string; keyPath: string; upstreamPorts: number[] }): Promise<RunningService & { url: string }> {
  const binary = findBinary('nginx', 'nginx');
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'test-nginx-'));
  const config = renderNginxConfig(await readFile(path.join(REPO_ROOT, 'deploy', 'nginx.conf'), 'utf8'), { ...options, port, dir });
  const configPath = path.join(dir, 'nginx.conf');
  await writeFile(configPath, config);
  const service = await startProcess(binary, ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', configPath, '-g', `daemon off; pid ${path.join(dir, 'nginx.pid')};`], port, dir);
  return { ...service, url: `https://127.0.0.1:${port}/`, logs: () => service.logs() };
}

/**
 * deploy/nginx.conf with the test's values put in: lines marked `# set:` in the file are the
 * ones a deployment edits, and the same ones the test replaces.
 */
export function renderNginxConfig(template: string, values: { port: number; dir: string; certPath: string; keyPath: string; upstreamPorts: number[] }): string {
  const servers = values.upstreamPorts.map((port) => `    server 127.0.0.1:${port} max_fails=1 fail_timeout=10s;`).join('\n');
  let text = template
    .replace(/^\s*user\s+[^;]+;.*$/m, '')
    .replace(/^(\s*)pid\s+[^;]+;.*$/m, '')
    .replace(/^(\s*)error_log\s+[^;]+;.*$/m, `$1error_log ${path.join(values.dir, 'error.log')} warn;`)
    .replace(/^(\s*)access_log\s+[^;]+;.*$/m, `$1access_log ${path.join(values.dir, 'access.log')};`)
    .replace(/^(\s*)listen\s+443 ssl;.*$/m, `$1listen 127.0.0.1:${values.port} ssl;`)
    .replace(/^(\s*)listen\s+\[::\]:443 ssl;.*$/m, '')
    .replace(/^(\s*)ssl_certificate\s+[^;]+;.*$/m, `$1ssl_certificate ${values.certPath};`)
    .replace(/^(\s*)ssl_certificate_key\s+[^;]+;.*$/m, `$1ssl_certificate_key ${values.keyPath};`)
    .replace(/^\s*server\s+[\w.-]+:\d+[^;]*;\s*# set: upstream.*\n/gm, '')
    .replace(/^(\s*)# upstream servers\n/m, `$1# upstream servers\n${servers}\n`);
  if (!text.includes(`127.0.0.1:${values.upstreamPorts[0]}`)) throw new Error('deploy/nginx.conf: no "# upstream servers" marker to put the instances after');
  text = text.replace(/^(\s*)server_name\s+[^;]+;.*$/m, '$1server_name localhost;');
  return text;
}
