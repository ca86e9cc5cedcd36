/**
 * The reliability suite's tools: the real server (child process) probed from outside, the way a
 * careless or hostile client would: socket.io clients, werift client peers, raw HTTPS.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { io, type Socket } from 'socket.io-client';

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request to the server, certificate unchecked (self-signed). */
export function request(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, rejectUnauthorized: false, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

export interface ConnectOptions {
  origin?: string;
  token?: string;
  cookie?: string;
}

/** A page's conversation key as the page makes it (32 random bytes, base64url): weak keys are refused. */
export function pageKey(): string {
  return randomBytes(32).toString('base64url');
}

/** A socket.io connection, or the reason the server refused it. */
export async function connect(url: string, options: ConnectOptions = {}): Promise<Socket> {
  const extraHeaders: Record<string, string> = {};
  if (options.origin) extraHeaders.origin = options.origin;
  if (options.cookie) extraHeaders.cookie = options.cookie;
  const socket = io(url, {
    transports: ['websocket'],
    rejectUnauthorized: false,
    reconnection: false,
    forceNew: true,
    extraHeaders,
    ...(options.token ? { auth: { token: options.token } } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
  return socket;
}

/** The server's `assistant_active_sessions` gauge and `/healthz` sessions. */
export async function sessionCounts(baseUrl: string): Promise<{ metrics: number; healthz: number }> {
  const metrics = await request(new URL('/metrics', baseUrl).toString());
  const healthz = JSON.parse((await request(new URL('/healthz', baseUrl).toString())).body) as { sessions: number };
  const line = metrics.body.split('\n').find((l) => l.startsWith('assistant_active_sessions'));
  return { metrics: Number(line?.split(/\s+/)[1] ?? NaN), healthz: healthz.sessions };
}

/** Open file descriptors of a process, and how many of them are sockets. */
export function fdCounts(pid: number): { fds: number; sockets: number } {
  const fds = readdirSync(`/proc/${pid}/fd`);
  let sockets = 0;
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // closed while we looked
    }
  }
  return { fds: fds.length, sockets };
}

/** UDP sockets the process owns (inodes of its socket fds found in /proc/net/udp). */
export function udpSockets(pid: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // closed while we looked
    }
  }
  let count = 0;
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[9];
      if (inode && inodes.has(inode)) count++;
    }
  }
  return count;
}

/** Resident memory of a process, MB. */
export function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? NaN) / 1024;
}

/** Forces a full GC in a server started with --expose-gc (SIGUSR2), then reads its RSS. */
export async function rssAfterGcMb(pid: number): Promise<number> {
  process.kill(pid, 'SIGUSR2');
  await sleep(1500);
  return rssMb(pid);
}

/** Polls `read` until `done` holds or `timeoutMs` passes; returns the last value. */
export async function settle<T>(read: () => T | Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await sleep(200);
    value = await read();
  }
  return value;
}
