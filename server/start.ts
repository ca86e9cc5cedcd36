/**
 * `npm start`: with WORKERS > 1 (the default on a machine of several cores) a supervising primary
 * forks one server process per worker (server/cluster/primary.ts); with WORKERS=1 the server runs
 * in this process. The certificate is made here first, so workers never race to create it.
 */
import cluster from 'node:cluster';
import { loadOrCreateTls } from './certs.js';
import { loadSettings, SettingsError, type Settings } from './config.js';
import { createLogger } from './logger.js';
import { runPrimary } from './cluster/primary.js';

function readSettings(): Settings {
  try {
    return loadSettings();
  } catch (err) {
    if (err instanceof SettingsError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
}

const settings = readSettings();
if (settings.WORKERS === 1 || cluster.isWorker) {
  await import('./main.js');
} else {
  loadOrCreateTls({ certPath: settings.TLS_CERT, keyPath: settings.TLS_KEY, certsDir: settings.CERTS_DIR, host: settings.HOST });
  try {
    runPrimary(settings, createLogger(settings.LOG_LEVEL));
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(2);
  }
}
