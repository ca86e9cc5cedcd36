import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { networkInterfaces } from 'node:os';
import type { NextFunction, Request, Response } from 'express';

/** The cookie the page keeps the token in after it was opened with `?token=…`. */
export const ACCESS_COOKIE = 'assistant_token';

/** 127.0.0.0/8, ::1 and localhost: only this machine can reach the server. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * The token a request must carry (DESIGN.md "Access and scale"): ACCESS_TOKEN when given; made
 * here for a non-loopback HOST; none for loopback. `made` says the server invented it (print it).
 */
export function resolveAccessToken(host: string, given: string | undefined): { token?: string; made: boolean } {
  if (given) return { token: given, made: false };
  if (isLoopbackHost(host)) return { made: false };
  return { token: randomBytes(24).toString('base64url'), made: true };
}

/** The addresses a person would type: a wildcard bind shows this machine's first external IPv4. */
export function publicHosts(host: string): string[] {
  if (host !== '0.0.0.0' && host !== '::') return [host.includes(':') ? `[${host}]` : host];
  const found: string[] = [];
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === 'IPv4' && !entry.internal) found.push(entry.address);
  }
  return [...found, 'localhost'];
}

function sameToken(candidate: string | undefined, token: string): boolean {
  if (!candidate) return false;
  const a = Buffer.from(candidate);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function queryToken(url: string | undefined): string | undefined {
  const value = new URL(url ?? '/', 'https://x').searchParams.get('token');
  return value ?? undefined;
}

function bearer(header: string | undefined): string | undefined {
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}

/** Where a request may have put the token: cookie, `?token=`, `Authorization: Bearer`, or socket.io's `auth`. */
export function requestHasToken(req: IncomingMessage, token: string, auth?: unknown): boolean {
  const authToken = typeof auth === 'object' && auth !== null ? (auth as { token?: unknown }).token : undefined;
  return (
    sameToken(cookieValue(req.headers.cookie, ACCESS_COOKIE), token) ||
    sameToken(queryToken(req.url), token) ||
    sameToken(bearer(req.headers.authorization), token) ||
    (typeof authToken === 'string' && sameToken(authToken, token))
  );
}

/**
 * A browser's `Origin` must be this server (its `Host`); no Origin is a non-browser client, which
 * the token (when one is required) still gates. Stops any other web page driving the server.
 */
export function originAllowed(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    const parsed = new URL(origin);
    return parsed.protocol === 'https:' && parsed.host === req.headers.host;
  } catch {
    return false;
  }
}

/** Express gate: 401 without the token; `?token=` sets the cookie the page then relies on. */
export function accessGate(token: string | undefined, openPaths: ReadonlySet<string>) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!token || openPaths.has(req.path)) return next();
    if (!requestHasToken(req, token)) {
      res.status(401).type('text/plain').send('Access token required: open the address the server printed at start (it ends in ?token=…).\n');
      return;
    }
    if (sameToken(queryToken(req.url), token)) {
      res.cookie(ACCESS_COOKIE, token, { httpOnly: true, secure: true, sameSite: 'strict', path: '/' });
    }
    next();
  };
}

/** socket.io `allowRequest`: a foreign Origin never gets a handshake. */
export function allowSocketRequest(req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void): void {
  if (originAllowed(req)) callback(null, true);
  else callback('This server only accepts connections from its own page.', false);
}

/** socket.io middleware: with a token configured, a handshake without it is refused. */
export function socketTokenCheck(token: string | undefined) {
  return (socket: { request: IncomingMessage; handshake: { auth: unknown } }, next: (err?: Error) => void): void => {
    if (!token || requestHasToken(socket.request, token, socket.handshake.auth)) next();
    else next(new Error('Access token required: open the address the server printed at start.'));
  };
}
