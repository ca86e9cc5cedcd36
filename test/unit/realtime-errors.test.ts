import { describe, expect, it } from 'vitest';
import { connectFailure, cutFailure, eventFailure } from '../../server/assistant/openai/realtime-errors.js';
import { RealtimeConnectError } from '../../server/assistant/openai/realtime-socket.js';

const context = { model: 'gpt-realtime', keySetting: 'OPENAI_API_KEY', serverSetting: 'OPENAI_BASE_URL', host: 'api.openai.com' };

describe('Realtime failures in words', () => {
  it('a refused upgrade says what to check', () => {
    const refused = (status?: number) => connectFailure(new RealtimeConnectError('refused', status), context);
    expect(refused(401)).toMatchObject({ kind: 'auth', userMessage: expect.stringContaining('OPENAI_API_KEY') });
    expect(refused(404)).toMatchObject({ kind: 'not_found', userMessage: expect.stringContaining('REALTIME_MODEL') });
    expect(refused(429)).toMatchObject({ kind: 'rate_limit' });
    expect(refused(503)).toMatchObject({ kind: 'server' });
    expect(refused(undefined)).toMatchObject({ kind: 'unavailable', userMessage: expect.stringContaining('OPENAI_BASE_URL') });
  });

  it('error events and failed responses: expiry, rate limit, quota, server, anything else', () => {
    expect(eventFailure({ code: 'session_expired', message: 'Your session hit the maximum duration of 60 minutes.' }, context)).toMatchObject({ kind: 'timeout' });
    expect(eventFailure({ type: 'requests', code: 'rate_limit_exceeded', message: 'x' }, context)).toMatchObject({ kind: 'rate_limit' });
    expect(eventFailure({ code: 'insufficient_quota', message: 'x' }, context).userMessage).toMatch(/credit/);
    expect(eventFailure({ type: 'server_error', message: 'boom' }, context)).toMatchObject({ kind: 'server' });
    expect(eventFailure({ type: 'invalid_request_error', message: 'Bad thing' }, context).userMessage).toContain('Bad thing');
    expect(cutFailure(1006)).toMatchObject({ kind: 'stream_cut', userMessage: expect.stringMatching(/cut off/) });
  });
});
