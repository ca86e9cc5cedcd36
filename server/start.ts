/**
 * `npm start`: with WORKERS > 1 (the default on a machine of several cores) a supervising primary
 * forks one server process per worker (server/cluster/primary.ts); with WORKERS=1 the server runs
 * in this process. The certificate (and a made access token) is settled here first, so workers
 * never race to create it or disagree on it.
 */
import cluster from 'node:cluster';
import { resolveAccessToken } from './access.js';
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
  // One token for the whole machine: made here once (when HOST is not loopback and none is given)
  // and handed to every worker in its environment, so all workers and worker 0's banner agree.
  const access = resolveAccessToken(settings.HOST, settings.ACCESS_TOKEN);
  if (access.token) process.env.ACCESS_TOKEN = access.token;
  if (access.made) process.env.ACCESS_TOKEN_MADE = '1';
  try {
    runPrimary(settings, createLogger(settings.LOG_LEVEL));
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(2);
  }
}
