/**
 * Runs the fake OpenAI API standalone, so the server can be tried end to end with no key and no
 * network: `npx tsx scripts/fake-openai.ts [--port 8787] [--api-key test] [--transcript "…"]`,
 * then `OPENAI_BASE_URL=<printed URL> OPENAI_API_KEY=test npm start`.
 */
import { parseArgs } from 'node:util';
import { startFakeOpenAI } from '../test/fake-openai/server.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8787' },
    'api-key': { type: 'string' },
    transcript: { type: 'string' },
    'first-byte-delay-ms': { type: 'string' },
    'chunk-gap-ms': { type: 'string' },
  },
});

const firstByteDelayMs = Number(values['first-byte-delay-ms'] ?? 0);
const chunkGapMs = Number(values['chunk-gap-ms'] ?? 0);
const behaviour = { firstByteDelayMs, chunkGapMs };
const fake = await startFakeOpenAI({
  host: values.host,
  port: Number(values.port),
  apiKey: values['api-key'],
  transcript: values.transcript,
  behaviour: { transcriptions: behaviour, chat: behaviour, speech: behaviour, realtime: behaviour },
});

console.log(`Fake OpenAI API listening: ${fake.baseURL}`);
console.log(`Try: OPENAI_BASE_URL=${fake.baseURL} OPENAI_API_KEY=${values['api-key'] ?? 'test'} npm start`);

let served = 0;
const logTimer = setInterval(() => {
  for (const request of fake.requests.slice(served)) {
    if (request.outcome === 'pending') break;
    served += 1;
    console.log(`${request.method} ${request.path} → ${request.status ?? '-'} (${request.outcome})`);
  }
}, 250);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    clearInterval(logTimer);
    void fake.close().then(() => process.exit(0));
  });
}
