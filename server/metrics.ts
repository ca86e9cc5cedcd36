import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics for the whole server (served at /metrics). */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly activeSessions = new Gauge({ name: 'assistant_active_sessions', help: 'Connected sessions', registers: [this.registry] });
  readonly rtpPacketsSent = new Counter({
    name: 'assistant_rtp_packets_sent_total',
    help: 'Opus RTP packets sent to browsers (speech and silence)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  /** Label children resolved once: these are counted on the per-packet path. */
  readonly speechPacketsSent = this.rtpPacketsSent.labels('speech');
  readonly silencePacketsSent = this.rtpPacketsSent.labels('silence');
  readonly rtpPacketsLate = new Counter({
    name: 'assistant_rtp_packets_late_total',
    help: 'Opus RTP packets sent more than 5 ms behind their 20 ms slot',
    registers: [this.registry],
  });
  readonly turnStageSeconds = new Histogram({
    name: 'assistant_turn_stage_seconds',
    help: 'Time from release to each turn milestone',
    labelNames: ['stage'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'assistant_errors_total',
    help: 'Errors reported to users, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly turns = new Counter({
    name: 'assistant_turns_total',
    help: 'Turns by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
