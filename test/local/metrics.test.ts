import { describe, expect, it } from 'vitest';
import { LocalMetrics, PROMETHEUS_CONTENT_TYPE, renderPrometheus } from '../../lib/local/metrics.js';
import { corruptOrgStatus, type OrgStatus } from '../../lib/local/org-status.js';

/** One sample line of text format 0.0.4: name, optional {labels}, a value. */
const SAMPLE_LINE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*")*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/;

function status(orgId: string, health: OrgStatus['health'], expiresInSeconds: number | null, enabled = true): OrgStatus {
  return {
    orgId, label: null, region: 'mypurecloud.ie', grantType: 'client_credentials', enabled, health,
    expiresAt: null, expiresInSeconds, nextRefreshAt: null, lastErrorCode: null, lastOutcome: null, lastAttemptAt: null, consecutiveFailures: 0,
  };
}

describe('renderPrometheus', () => {
  it('writes HELP and TYPE before the samples and ends with a newline', () => {
    const text = renderPrometheus([{ name: 'x_total', help: 'Things.', type: 'counter', samples: [{ value: 3 }, { labels: { a: 'b' }, value: 1.5 }] }]);
    expect(text).toBe('# HELP x_total Things.\n# TYPE x_total counter\nx_total 3\nx_total{a="b"} 1.5\n');
  });

  it('escapes label values and help text as the format requires', () => {
    const text = renderPrometheus([{ name: 'y', help: 'back\\slash\nnewline', type: 'gauge', samples: [{ labels: { v: 'q"uote\\back\nline' }, value: Infinity }] }]);
    expect(text).toBe('# HELP y back\\\\slash\\nnewline\n# TYPE y gauge\ny{v="q\\"uote\\\\back\\nline"} +Inf\n');
  });

  it('refuses invalid metric and label names', () => {
    expect(() => renderPrometheus([{ name: 'bad-name', help: '', type: 'gauge', samples: [] }])).toThrow(/invalid metric name/);
    expect(() => renderPrometheus([{ name: 'ok', help: '', type: 'gauge', samples: [{ labels: { 'bad-label': 'x' }, value: 1 }] }])).toThrow(/invalid label name/);
  });
});

describe('LocalMetrics', () => {
  it('exposes every documented family in valid text format', () => {
    const metrics = new LocalMetrics();
    metrics.recordRefresh('success');
    metrics.recordRefresh('success');
    metrics.recordRefresh('failure', 'invalid_client');
    metrics.recordGetterRequest('ok');
    metrics.recordGetterRequest('token_unavailable');
    metrics.recordSweep(1_250, true, Date.parse('2026-01-01T00:00:00Z'));
    const text = metrics.render([status('o-1', 'healthy', 250), status('o-2', 'expired', null), status('o-3', 'disabled', 100, false)]);

    expect(PROMETHEUS_CONTENT_TYPE).toBe('text/plain; version=0.0.4; charset=utf-8');
    for (const line of text.trimEnd().split('\n')) {
      if (line.startsWith('# ')) expect(line).toMatch(/^# (HELP|TYPE) [a-z_]+ /);
      else expect(line).toMatch(SAMPLE_LINE);
    }
    expect(text).toContain('# TYPE broker_refresh_total counter\n');
    expect(text).toContain('broker_refresh_total{outcome="success",error_code="none"} 2\n');
    expect(text).toContain('broker_refresh_total{outcome="failure",error_code="invalid_client"} 1\n');
    expect(text).toContain('# TYPE broker_orgs gauge\n');
    expect(text).toContain('broker_orgs{health="healthy"} 1\n');
    expect(text).toContain('broker_orgs{health="expired"} 1\n');
    expect(text).toContain('broker_orgs{health="at_risk"} 0\n');
    expect(text).toContain('broker_orgs{health="disabled"} 1\n');
    expect(text).toContain('broker_token_seconds_remaining{org_id="o-1"} 250\n');
    // Never issued: no sample; disabled: not alarmed on.
    expect(text).not.toContain('org_id="o-2"');
    expect(text).not.toContain('org_id="o-3"');
    expect(text).toContain('broker_sweep_duration_seconds 1.25\n');
    expect(text).toContain('broker_last_sweep_timestamp_seconds 1767225600\n');
    expect(text).toContain('broker_getter_requests_total{result="ok"} 1\n');
    expect(text).toContain('broker_getter_requests_total{result="token_unavailable"} 1\n');
  });

  it('counts corrupt orgs by health, with no token sample', () => {
    const corrupt = corruptOrgStatus({ orgId: 'o-4', problem: 'not valid JSON', location: '/data/registry/o-4.json', remedy: 'Restore it.' });
    const text = new LocalMetrics().render([status('o-1', 'healthy', 250), corrupt]);
    expect(text).toContain('broker_orgs{health="corrupt"} 1\n');
    expect(text).toContain('broker_orgs{health="healthy"} 1\n');
    expect(text).not.toContain('org_id="o-4"');
    expect(new LocalMetrics().render([])).toContain('broker_orgs{health="corrupt"} 0\n');
  });

  it('declares every family before any sample exists', () => {
    const text = new LocalMetrics().render([]);
    for (const name of ['broker_refresh_total', 'broker_orgs', 'broker_token_seconds_remaining', 'broker_sweep_duration_seconds', 'broker_getter_requests_total']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).toContain('broker_orgs{health="healthy"} 0\n');
    expect(text).not.toMatch(/^broker_refresh_total/m);
  });

  it('keeps the last successful sweep time when a later sweep fails', () => {
    const metrics = new LocalMetrics();
    metrics.recordSweep(100, true, 10_000);
    metrics.recordSweep(300, false, 20_000);
    const text = metrics.render([]);
    expect(text).toContain('broker_last_sweep_timestamp_seconds 10\n');
    expect(text).toContain('broker_sweep_duration_seconds 0.3\n');
    expect(text).toContain('broker_sweeps_total{result="ok"} 1\n');
    expect(text).toContain('broker_sweeps_total{result="error"} 1\n');
  });
});
