import v8 from 'node:v8';

/*
 * Every full (mark-compact) GC stops the main thread for 7–40 ms, and every session's 20 ms
 * reply-audio clock with it. With 20 sessions V8 ran one every ~1.4 s, because it lets the old
 * generation grow only ~10 % past what survived the last one. Letting it grow 100 % (about twice
 * the live heap, tens of MB here) made them ~4× rarer in the same bench step
 * (`npm run bench -- --steps 20 --server-node-flags=--trace-gc`). Scavenges are unaffected.
 * Imported first by server/main.ts, before anything allocates much.
 */
v8.setFlagsFromString('--heap-growing-percent=100');
