import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateTls, type TlsMaterial } from '../../server/certs.js';

describe('loadOrCreateTls', () => {
  let dir: string;
  let certsDir: string;
  let first: TlsMaterial;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'certs-test-'));
    certsDir = join(dir, 'nested', 'certs'); // does not exist yet
    first = loadOrCreateTls({ certsDir, host: '127.0.0.1' });
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a self-signed certificate in the certs dir on the first call', () => {
    expect(first.origin).toBe('created');
    expect(first.certPath).toBe(join(certsDir, 'localhost-cert.pem'));
    expect(readFileSync(first.certPath).equals(first.cert)).toBe(true);
    expect(readFileSync(join(certsDir, 'localhost-key.pem')).equals(first.key)).toBe(true);
    const cert = new X509Certificate(first.cert);
    expect(cert.subject).toContain('CN=localhost');
    expect(cert.issuer).toBe(cert.subject); // self-signed
    expect(cert.verify(cert.publicKey)).toBe(true);
  });

  it('keeps the private key readable by its owner only', () => {
    expect(statSync(join(certsDir, 'localhost-key.pem')).mode & 0o077).toBe(0);
  });

  it('is a valid server certificate for localhost and 127.0.0.1, now', () => {
    const cert = new X509Certificate(first.cert);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('example.com')).toBeUndefined();
    expect(cert.checkPrivateKey(createPrivateKey(first.key))).toBe(true);
    const now = Date.now();
    expect(new Date(cert.validFrom).getTime()).toBeLessThanOrEqual(now + 60_000);
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(now + 30 * 24 * 3600 * 1000);
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage ?? []).toContain('1.3.6.1.5.5.7.3.1'); // extKeyUsage serverAuth
  });

  it('reuses the same certificate on the second call', () => {
    const second = loadOrCreateTls({ certsDir, host: '127.0.0.1' });
    expect(second.origin).toBe('existing');
    expect(second.cert.equals(first.cert)).toBe(true);
    expect(second.key.equals(first.key)).toBe(true);
  });

  it('adds a named HOST and an IP HOST to the names it is valid for', () => {
    const named = loadOrCreateTls({ certsDir: join(dir, 'named'), host: 'assistant.lan' });
    const namedCert = new X509Certificate(named.cert);
    expect(namedCert.checkHost('assistant.lan')).toBe('assistant.lan');
    expect(namedCert.checkHost('localhost')).toBe('localhost');

    const ip = loadOrCreateTls({ certsDir: join(dir, 'ip'), host: '192.168.1.20' });
    const ipCert = new X509Certificate(ip.cert);
    expect(ipCert.checkIP('192.168.1.20')).toBe('192.168.1.20');
    expect(ipCert.checkIP('127.0.0.1')).toBe('127.0.0.1');
  }, 30_000);

  it('uses TLS_CERT and TLS_KEY when both are given', () => {
    const certPath = join(dir, 'mine-cert.pem');
    const keyPath = join(dir, 'mine-key.pem');
    writeFileSync(certPath, first.cert);
    writeFileSync(keyPath, first.key);
    const given = loadOrCreateTls({ certPath, keyPath, certsDir: join(dir, 'unused'), host: '127.0.0.1' });
    expect(given.origin).toBe('given');
    expect(given.certPath).toBe(certPath);
    expect(given.cert.equals(first.cert)).toBe(true);
    expect(() => statSync(join(dir, 'unused'))).toThrow(); // nothing created
  });

  it('refuses TLS_CERT without TLS_KEY (and the reverse), naming both settings', () => {
    const certPath = join(dir, 'only-cert.pem');
    writeFileSync(certPath, first.cert);
    expect(() => loadOrCreateTls({ certPath, certsDir, host: '127.0.0.1' })).toThrow(/TLS_CERT.*TLS_KEY/);
    expect(() => loadOrCreateTls({ keyPath: certPath, certsDir, host: '127.0.0.1' })).toThrow(/TLS_CERT.*TLS_KEY/);
  });
});
