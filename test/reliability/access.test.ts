import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../e2e/harness.js';
import { connect, request } from './rig.js';

const API_KEY = 'sk-reliability-secret-0123456789abcdef';

/** HOST=0.0.0.0 with no ACCESS_TOKEN: the server makes one, prints it, and wants it everywhere. */
describe('access on a non-loopback bind', () => {
  let server: RunningServer;
  let token: string;
  let base: string;

  beforeAll(async () => {
    server = await startServer({ HOST: '0.0.0.0', OPENAI_API_KEY: API_KEY, ASSISTANT_ENGINE: 'offline' });
    const printed = /https:\/\/(\S+?):(\d+)\/\?token=(\S+)/.exec(server.logs());
    expect(printed, 'the banner prints the URL with the token').not.toBeNull();
    expect(printed![1]).not.toBe('0.0.0.0');
    token = printed![3]!;
    base = `https://127.0.0.1:${server.port}`;
  });
  afterAll(() => server?.stop());

  it('answers 401 without the token, and sets the cookie the page then uses', async () => {
    for (const path of ['/', '/app.js', '/metrics', '/vendor/marked.esm.js']) expect((await request(base + path)).status, path).toBe(401);
    const opened = await request(`${base}/?token=${token}`);
    expect(opened.status).toBe(200);
    const cookie = String(opened.headers['set-cookie']).split(';')[0]!;
    expect(cookie).toBe(`assistant_token=${token}`);
    expect(String(opened.headers['set-cookie'])).toMatch(/HttpOnly.*Secure.*SameSite=Strict/);
    expect((await request(`${base}/app.js`, { cookie })).status).toBe(200);
    expect((await request(`${base}/?token=wrong${token}`)).status).toBe(401);
  });

  it('keeps /healthz open but says only that the server is up', async () => {
    const health = await request(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ ok: true });
  });

  it('refuses a socket.io handshake without the token or from a foreign Origin', async () => {
    await expect(connect(base)).rejects.toThrow(/token/i);
    await expect(connect(base, { token, origin: 'https://evil.example' })).rejects.toThrow();
    const own = await connect(base, { token, origin: `https://127.0.0.1:${server.port}` });
    expect(own.connected).toBe(true);
    own.close();
    const byCookie = await connect(base, { cookie: `assistant_token=${token}` });
    expect(byCookie.connected).toBe(true);
    byCookie.close();
  });

  it('never sends the API key, a stack trace or a path in any response', async () => {
    const cookie = `assistant_token=${token}`;
    const paths = ['/', '/healthz', '/metrics', '/app.js', '/vendor/__proto__', '/vendor/constructor', '/vendor/toString',
      '/vendor/hasOwnProperty', '/%E0%A4%A', '/../../etc/passwd', '/nope', '/socket.io/?EIO=4&transport=polling'];
    for (const path of paths) {
      for (const headers of [{}, { cookie }] as Record<string, string>[]) {
        const reply = await request(base + path, headers);
        const text = reply.body + JSON.stringify(reply.headers);
        expect(text, path).not.toContain(API_KEY);
        expect(reply.body, path).not.toMatch(/\n\s+at |\/work\/|node_modules|Error:/);
        if (!('cookie' in headers)) expect(reply.body, path).not.toContain(token);
        expect(reply.status, path).toBeLessThan(500);
      }
    }
    expect((await request(`${base}/vendor/__proto__`, { cookie })).status).toBe(404);
    const page = await request(`${base}/`, { cookie });
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'.*img-src 'self' data: blob:.*frame-ancestors 'none'/);
    expect(server.logs()).not.toContain(API_KEY);
  });
});
