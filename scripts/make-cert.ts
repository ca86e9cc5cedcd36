/**
 * Makes a self-signed certificate for HTTPS (the server also does this on first start).
 * Usage: npx tsx scripts/make-cert.ts [host] [dir]   → dir/localhost-cert.pem, dir/localhost-key.pem
 */
import { loadOrCreateTls } from '../server/certs.js';

const host = process.argv[2] ?? 'localhost';
const certsDir = process.argv[3] ?? 'certs';
const tls = loadOrCreateTls({ certsDir, host });
console.log(`${tls.origin === 'created' ? 'Created' : 'Kept existing'} ${tls.certPath}`);
