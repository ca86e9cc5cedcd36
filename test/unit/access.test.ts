import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ACCESS_COOKIE, isLoopbackHost, originAllowed, requestHasToken, resolveAccessToken } from '../../server/access.js';

const request = (headers: Record<string, string>, url = '/'): IncomingMessage => ({ headers, url }) as unknown as IncomingMessage;

describe('access', () => {
  it('knows loopback binds', () => {
    for (const host of ['127.0.0.1', '127.3.2.1', 'localhost', '::1', '[::1]']) expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.168.1.4', 'example.com', '127.0.0.1.example.com']) expect(isLoopbackHost(host)).toBe(false);
  });

  it('makes a token for a non-loopback bind, keeps a given one, none for loopback', () => {
    expect(resolveAccessToken('127.0.0.1', undefined)).toEqual({ made: false });
    const made = resolveAccessToken('0.0.0.0', undefined);
    expect(made.made).toBe(true);
    expect(made.token!.length).toBeGreaterThanOrEqual(32);
    expect(resolveAccessToken('0.0.0.0', undefined).token).not.toBe(made.token);
    expect(resolveAccessToken('0.0.0.0', 'given-token-0123456789')).toEqual({ token: 'given-token-0123456789', made: false });
  });

  it('finds the token in the cookie, the query, a bearer header or socket.io auth, and nowhere else', () => {
    const token = 'abcdefghijklmnopqrstuvwx';
    expect(requestHasToken(request({ cookie: `a=b; ${ACCESS_COOKIE}=${token}` }), token)).toBe(true);
    expect(requestHasToken(request({}, `/?token=${token}`), token)).toBe(true);
    expect(requestHasToken(request({ authorization: `Bearer ${token}` }), token)).toBe(true);
    expect(requestHasToken(request({}), token, { token })).toBe(true);
    expect(requestHasToken(request({}), token)).toBe(false);
    expect(requestHasToken(request({ cookie: `${ACCESS_COOKIE}=${token}x` }, '/?token=abc'), token, { token: 7 })).toBe(false);
    expect(requestHasToken(request({ cookie: `${ACCESS_COOKIE}=%E0%A4%A` }), token)).toBe(false);
  });

  it('accepts only its own https origin, or none', () => {
    expect(originAllowed(request({ host: 'box:8443' }))).toBe(true);
    expect(originAllowed(request({ host: 'box:8443', origin: 'https://box:8443' }))).toBe(true);
    expect(originAllowed(request({ host: 'box:8443', origin: 'https://evil.example' }))).toBe(false);
    expect(originAllowed(request({ host: 'box:8443', origin: 'http://box:8443' }))).toBe(false);
    expect(originAllowed(request({ host: 'box:8443', origin: 'null' }))).toBe(false);
  });
});
