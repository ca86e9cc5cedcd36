import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import selfsigned from 'selfsigned';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** Where they came from, for the start-up log. */
  origin: 'given' | 'existing' | 'created';
  certPath: string;
}

/**
 * TLS_CERT/TLS_KEY when given; otherwise a self-signed certificate for localhost kept in
 * `certsDir` (made on first start, reused after). Browsers only allow camera access on HTTPS.
 */
export function loadOrCreateTls(options: { certPath?: string; keyPath?: string; certsDir: string; host: string }): TlsMaterial {
  if (options.certPath || options.keyPath) {
    if (!options.certPath || !options.keyPath) throw new Error('Set both TLS_CERT and TLS_KEY, or neither.');
    return {
      cert: readFileSync(options.certPath),
      key: readFileSync(options.keyPath),
      origin: 'given',
      certPath: options.certPath,
    };
  }
  const certPath = join(options.certsDir, 'localhost-cert.pem');
  const keyPath = join(options.certsDir, 'localhost-key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) {
    return { cert: readFileSync(certPath), key: readFileSync(keyPath), origin: 'existing', certPath };
  }
  const made = createSelfSigned(options.host);
  mkdirSync(options.certsDir, { recursive: true });
  writeFileSync(keyPath, made.key, { mode: 0o600 });
  writeFileSync(certPath, made.cert);
  return { cert: Buffer.from(made.cert), key: Buffer.from(made.key), origin: 'created', certPath };
}

export function createSelfSigned(host: string): { cert: string; key: string } {
  const altNames: { type: number; value?: string; ip?: string }[] = [
    { type: 2, value: 'localhost' },
    { type: 7, ip: '127.0.0.1' },
  ];
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '0.0.0.0') {
    altNames.push(/^[\d.]+$/.test(host) ? { type: 7, ip: host } : { type: 2, value: host });
  }
  const pems = selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    days: 825,
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}
