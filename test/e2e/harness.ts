/**
 * End-to-end rig: the real server (`node --import tsx server/main.ts`) and Debian's Chromium
 * (driven by playwright-core) with fake media devices, over real WebRTC. Page-side helpers that
 * read the page contract (DESIGN.md) and the remote audio live in page-probes.ts.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Browser, chromium } from 'playwright-core';

export * from './page-probes.js';

const run = promisify(execFile);
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Tools the rig needs, with the Debian package that has each. Missing ones fail, never skip. */
const REQUIRED_TOOLS: ReadonlyArray<{ tool: string; debianPackage: string }> = [
  { tool: CHROMIUM_PATH, debianPackage: 'chromium' },
  { tool: 'flite', debianPackage: 'flite' },
  { tool: 'sox', debianPackage: 'sox' },
  { tool: 'ffmpeg', debianPackage: 'ffmpeg' },
  { tool: 'pocketsphinx_continuous', debianPackage: 'pocketsphinx (and pocketsphinx-en-us)' },
];

export async function assertRigToolsPresent(): Promise<void> {
  const missing: string[] = [];
  for (const { tool, debianPackage } of REQUIRED_TOOLS) {
    const found = tool.startsWith('/')
      ? existsSync(tool)
      : await run('sh', ['-c', `command -v ${tool}`]).then(() => true, () => false);
    if (!found) missing.push(`${tool} (Debian package "${debianPackage}")`);
  }
  if (missing.length > 0) {
    throw new Error(`End-to-end tests need these, which are missing: ${missing.join(', ')}. Install with apt-get.`);
  }
}

export interface RunningServer {
  url: string;
  port: number;
  /** The server process (node itself: no wrapper in between; with WORKERS > 1, the cluster primary). */
  pid: number;
  stop(): Promise<void>;
  logs(): string;
}

/** After a failed case: the tail of the server's log and the page's errors, for the CI log. */
export function printFailureContext(server: RunningServer, pageErrors: readonly string[], logChars = 4000): void {
  console.log(`--- server log (tail) ---\n${server.logs().slice(-logChars)}\n--- page errors ---\n${pageErrors.join('\n')}`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

const selfSignedAgent = new https.Agent({ rejectUnauthorized: false, keepAlive: false });

function healthzStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const request = https.get(
      { host: '127.0.0.1', port, path: '/healthz', agent: selfSignedAgent, timeout: 2000 },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(0));
  });
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Servers still running, killed if this process exits without stopping them (a crashed test). */
const liveServers = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveServers) signalGroup(child, 'SIGKILL');
});

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal); // the whole group: node, esbuild, ffmpeg, pocketsphinx…
  } catch {
    // already gone
  }
}

/**
 * Starts the real server on a free port (or `env.PORT`) with its own certificate dir and the
 * offline engine, and resolves once `GET /healthz` answers 200.
 */
export async function startServer(
  env: Record<string, string> = {},
  startTimeoutMs = 30_000,
  nodeArgs: readonly string[] = [],
): Promise<RunningServer> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const certsDir = env.CERTS_DIR ?? (await mkdtemp(path.join(os.tmpdir(), 'e2e-certs-')));
  const ownsCertsDir = env.CERTS_DIR === undefined;
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    OPENAI_API_KEY: '',
    ASSISTANT_ENGINE: 'offline',
    LOG_LEVEL: 'info',
    ...env,
    PORT: String(port),
    HOST: env.HOST ?? '127.0.0.1',
    CERTS_DIR: certsDir,
  };
  // With WORKERS given, the real `npm start` entry (a cluster primary when WORKERS > 1).
  const entry = env.WORKERS ? 'server/start.ts' : 'server/main.ts';
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', entry], {
    cwd: REPO_ROOT,
    env: childEnv,
    detached: true, // own process group, so stop() ends its children too
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveServers.add(child);
  child.once('exit', () => liveServers.delete(child));
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > 2_000_000) output = output.slice(-1_000_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    signalGroup(child, 'SIGTERM');
    const exitedGracefully = await waitForExit(child, 5000);
    if (!exitedGracefully) {
      signalGroup(child, 'SIGKILL');
      await waitForExit(child, 5000);
    }
    signalGroup(child, 'SIGKILL'); // stragglers in the group (e.g. esbuild's service)
    if (ownsCertsDir) await rm(certsDir, { recursive: true, force: true });
    if (!exitedGracefully) {
      throw new Error(`server (pid ${child.pid}) did not exit within 5 s of SIGTERM; killed. Last output:\n${output.slice(-3000)}`);
    }
  };

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      stopped = true;
      throw new Error(`server exited (code ${child.exitCode}, signal ${child.signalCode}) before /healthz answered:\n${output.slice(-4000)}`);
    }
    if ((await healthzStatus(port)) === 200) break;
    if (Date.now() > deadline) {
      await stop().catch(() => undefined);
      throw new Error(`server did not answer GET /healthz with 200 within ${startTimeoutMs} ms:\n${output.slice(-4000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url: `https://127.0.0.1:${port}/`, port, pid: child.pid!, stop, logs: () => output };
}

export interface FakeMedia {
  /** WAV the fake microphone loops. */
  audioWav: string;
  /** Y4M the fake camera loops. */
  videoY4m: string;
}

/** Chromium flags of DESIGN.md "Test rig facts", plus what lets getDisplayMedia work headless. */
export function chromiumFlags({ audioWav, videoY4m }: FakeMedia): string[] {
  return [
    '--headless=new',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${audioWav}`,
    `--use-file-for-fake-video-capture=${videoY4m}`,
    '--autoplay-policy=no-user-gesture-required',
    '--ignore-certificate-errors',
    // getDisplayMedia: --use-fake-ui-for-media-stream accepts the picker; this names the source.
    '--auto-select-desktop-capture-source=Entire screen',
    '--enable-usermedia-screen-capturing',
  ];
}

export async function launchBrowser(media: FakeMedia): Promise<Browser> {
  await assertRigToolsPresent();
  for (const file of [media.audioWav, media.videoY4m]) {
    if (!existsSync(file)) throw new Error(`fake media file missing: ${file} (make it with scripts/make-test-media.ts)`);
  }
  // headless:false stops playwright adding its own --headless and --mute-audio; we pass --headless=new.
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: false,
    args: chromiumFlags(media),
    timeout: 30_000,
  });
}
