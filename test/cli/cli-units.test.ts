/**
 * The CLI's pure parts (parsing, formatting, decisions) and in-process runs of `main` for behaviour
 * that needs a terminal (prompts, `token` on a TTY), which a child process with pipes cannot show.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileStore } from '../../lambdas/adapters/file/file-store.js';
import type { SweepSummary } from '../../lambdas/core/engine.js';
import { BrokerError, NotFoundError, ValidationError } from '../../lambdas/core/errors.js';
import { createOAuthClient, type FetchLike } from '../../lambdas/core/oauth.js';
import { type OrgRecord, systemClock } from '../../lambdas/core/ports.js';
import { resolveRegion } from '../../lambdas/core/regions.js';
import { type CommandSpec, parseCommand, suggest } from '../../lib/cli/args.js';
import { sweepExitCode, summaryLine } from '../../lib/cli/commands/refresh.js';
import { corruptStatusCells, corruptStatusRow, statusCells, statusRow, UNHEALTHY } from '../../lib/cli/commands/status.js';
import { DEFAULT_POLICY } from '../../lambdas/core/policy.js';
import { InMemoryLease, ManualClock } from '../../lambdas/adapters/memory/in-memory-stores.js';
import { LEASE_TAKEOVER_GRACE_MS } from '../../lambdas/core/engine.js';
import { ORG_LEASE_WAIT_MS, withOrgLease } from '../../lib/cli/onboard.js';
import { clipboardCommand, tokenOutputMode } from '../../lib/cli/commands/token.js';
import { describeAwsError } from '../../lib/cli/aws.js';
import { CliFailure, EXIT, UsageError } from '../../lib/cli/exit-codes.js';
import { formatDuration, formatRelative, parseSince, renderTable, unreadableNotes } from '../../lib/cli/format.js';
import { exitCodeFor } from '../../lib/cli/main.js';
import { parseSecretLines } from '../../lib/cli/secret-input.js';
import { genesysBaseUrl, resolveTarget } from '../../lib/cli/target.js';
import { verifyCredentials } from '../../lib/cli/verify.js';
import { GenesysSimulator } from '../../lib/demo/genesys-simulator.js';
import { runInProcess } from './run-cli.js';

const NOW = Date.parse('2025-06-01T12:00:00.000Z');
const H = 3_600_000;
const ORG = 'd1000000-0000-4000-8000-000000000001';

describe('tokenOutputMode', () => {
  it.each([
    { stdoutIsTTY: false, show: false, mode: 'token' },
    { stdoutIsTTY: false, show: true, mode: 'token' },
    { stdoutIsTTY: true, show: true, mode: 'token' },
    { stdoutIsTTY: true, show: false, mode: 'metadata' },
  ] as const)('prints $mode when stdout is a TTY: $stdoutIsTTY and --show: $show', ({ stdoutIsTTY, show, mode }) => {
    expect(tokenOutputMode({ stdoutIsTTY, show })).toBe(mode);
  });
});

describe('describeAwsError', () => {
  const sdkError = (name: string, message: string, metadata: Record<string, unknown>) => Object.assign(new Error(message), { name, $fault: 'client', $metadata: metadata });

  it('prints the exception name, HTTP status and request id only, never the SDK message', () => {
    const message = 'User: arn:aws:sts::123456789012:assumed-role/Admin/alice is not authorized to perform: dynamodb:Scan on resource arn:aws:dynamodb:eu-west-1:123456789012:table/reg';
    const described = describeAwsError(sdkError('AccessDeniedException', message, { httpStatusCode: 400, requestId: 'REQ123ABC' }));
    expect(described).toEqual({ message: 'AWS AccessDeniedException (HTTP 400, request id REQ123ABC)', hints: [expect.stringContaining('IAM policy')] });
    expect(JSON.stringify(described)).not.toMatch(/123456789012|alice|dynamodb:Scan/);
  });

  it('leaves out what is missing or malformed, and gives no hint for an unknown name', () => {
    expect(describeAwsError(sdkError('SomethingNewException', 'raw text', {}))).toEqual({ message: 'AWS SomethingNewException', hints: [] });
    expect(describeAwsError(sdkError('Bad name with spaces', 'raw', { httpStatusCode: 500, requestId: 'id with spaces\nand a line' }))).toEqual({ message: 'AWS Error (HTTP 500)', hints: [] });
    expect(describeAwsError(new Error('not from the SDK'))).toBeUndefined();
  });

  it('reports a real SDK failure on stderr by name, status and request id, without its message', async () => {
    const leak = 'arn:aws:iam::123456789012:role/do-not-print';
    const server = createServer((_req, res) => {
      res.writeHead(400, { 'Content-Type': 'application/x-amz-json-1.0', 'x-amzn-RequestId': 'REQ-4242' });
      res.end(JSON.stringify({ __type: 'com.amazon.coral.service#AccessDeniedException', message: `User ${leak} is not authorized` }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDEXAMPLE');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'example-secret-key');
    vi.stubEnv('AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED', 'true');
    try {
      const run = await runInProcess(['status', '--registry-table', 'reg-table', '--audit-table', 'audit-table']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('AWS AccessDeniedException (HTTP 400, request id REQ-4242)');
      expect(run.stderr).not.toContain(leak);
      expect(run.stderr).not.toContain('not authorized');
    } finally {
      vi.unstubAllEnvs();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('clipboardCommand', () => {
  it.each([
    ['darwin', {}, 'pbcopy'],
    ['win32', {}, 'clip'],
    ['linux', { WAYLAND_DISPLAY: 'wayland-0', DISPLAY: ':0' }, 'wl-copy'],
    ['linux', { DISPLAY: ':0' }, 'xclip -selection clipboard'],
    ['freebsd', { DISPLAY: ':0' }, 'xclip -selection clipboard'],
    ['linux', {}, undefined],
  ] as const)('suggests on %s with %j: %s', (platform, env, command) => {
    expect(clipboardCommand(platform, env)).toBe(command);
  });

  it('never suggests pbcopy off macOS', () => {
    for (const platform of ['linux', 'win32', 'freebsd', 'openbsd', 'sunos', 'aix'] as const) {
      expect(clipboardCommand(platform, { DISPLAY: ':0', WAYLAND_DISPLAY: 'w' })).not.toBe('pbcopy');
    }
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [999, '0s'],
    [42_000, '42s'],
    [65_000, '1m 5s'],
    [17 * H + 59 * 60_000 + 59_000, '17h 59m'],
    [24 * H, '1d 0h'],
    [51 * H + 30 * 60_000, '2d 3h'],
    [-5 * 60_000 - 3_000, '5m 3s'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('says in, ago and now for relative times', () => {
    expect(formatRelative(NOW + 2 * H, NOW)).toBe('in 2h 0m');
    expect(formatRelative(NOW - 90_000, NOW)).toBe('1m 30s ago');
    expect(formatRelative(NOW + 500, NOW)).toBe('now');
  });
});

describe('parseSince', () => {
  it('reads look-backs and ISO instants', () => {
    expect(parseSince('24h', NOW)).toBe(NOW - 24 * H);
    expect(parseSince('7d', NOW)).toBe(NOW - 7 * 24 * H);
    expect(parseSince('30m', NOW)).toBe(NOW - 30 * 60_000);
    expect(parseSince('2w', NOW)).toBe(NOW - 14 * 24 * H);
    expect(parseSince('2025-05-31T08:00:00Z', NOW)).toBe(Date.parse('2025-05-31T08:00:00Z'));
    expect(parseSince('2025-05-31', NOW)).toBe(Date.parse('2025-05-31'));
  });

  it('subtracts exactly n units for any look-back', () => {
    const units = { s: 1000, m: 60_000, h: H, d: 24 * H, w: 7 * 24 * H } as const;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999 }), fc.constantFrom(...(Object.keys(units) as (keyof typeof units)[])), (n, unit) => {
        expect(parseSince(`${n}${unit}`, NOW)).toBe(NOW - n * units[unit]);
      }),
    );
  });

  it.each(['yesterday', '1', '24', 'h', '-1d', '1y', '2025-13-45', ''])('rejects %j naming --since', (value) => {
    expect(() => parseSince(value, NOW)).toThrow(UsageError);
    expect(() => parseSince(value, NOW)).toThrow(/^--since must be/);
  });
});

describe('renderTable', () => {
  it('pads columns and flattens newlines in cells', () => {
    expect(renderTable(['A', 'BB'], [['x', 'y'], ['long\nvalue', 'z']])).toBe('A           BB\nx           y\nlong value  z\n');
  });
});

describe('parseSecretLines', () => {
  it('reads the client secret from line 1 and the refresh token from line 2', () => {
    expect(parseSecretLines('s3cret\n', 'client_credentials')).toEqual({ clientSecret: 's3cret' });
    expect(parseSecretLines('s3cret\r\nrt-1\r\n\n', 'refresh_token')).toEqual({ clientSecret: 's3cret', refreshToken: 'rt-1' });
  });

  it.each([
    ['', 'client_credentials', /first line of stdin must hold the client secret/],
    ['\nrt', 'refresh_token', /first line of stdin must hold the client secret/],
    ['s3cret-value\nrt-1\n', 'client_credentials', /second line .* but --grant is client_credentials/],
    ['s3cret-value\n', 'refresh_token', /needs the refresh token on the second line/],
    ['secret-aaa\nrt-bbb\nextra-ccc\n', 'refresh_token', /at most 2 lines/],
  ] as const)('rejects %j for %s without echoing it', (text, grant, message) => {
    let error: unknown;
    try {
      parseSecretLines(text, grant);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(message);
    if (text.trim()) expect((error as Error).message).not.toContain(text.trim().split('\n')[0]);
  });
});

describe('parseCommand', () => {
  const spec: CommandSpec = {
    name: 'demo',
    summary: 'demo',
    usage: '',
    target: true,
    positionals: ['<orgId>'],
    options: { org: { type: 'string', multiple: true, description: '' }, force: { type: 'boolean', description: '' }, 'client-secret-stdin': { type: 'boolean', description: '' } },
  };
  const usage = (argv: string[]): UsageError => {
    try {
      parseCommand(spec, argv);
    } catch (err) {
      if (err instanceof UsageError) return err;
      throw err;
    }
    throw new Error('expected a UsageError');
  };

  it('collects repeated flags and positionals', () => {
    const parsed = parseCommand(spec, ['x', '--org', 'a', '--org=b', '--force', '--local']);
    expect(parsed.values).toMatchObject({ org: ['a', 'b'], force: true, local: true });
    expect(parsed.positionals).toEqual(['x']);
  });

  it('names an unknown flag and suggests the close one', () => {
    const err = usage(['x', '--forse']);
    expect(err.message).toBe("unknown option --forse for 'demo'");
    expect(err.hints).toContain('did you mean --force?');
  });

  it('refuses secret flags without echoing their value, in both spellings', () => {
    for (const argv of [['x', '--client-secret', 'hunter22'], ['x', '--client-secret=hunter22'], ['x', '--refresh-token=hunter22']]) {
      const err = usage(argv);
      expect(err.message).toMatch(/^--(client-secret|refresh-token) is not accepted/);
      expect(`${err.message}${err.hints.join('')}`).not.toContain('hunter22');
      expect(err.hints[0]).toContain('--client-secret-stdin');
    }
  });

  it('never echoes a stray positional, which may be a secret', () => {
    const err = usage(['x', 'hunter22']);
    expect(err.message).toContain('takes 1 positional argument');
    expect(err.message).not.toContain('hunter22');
  });

  it('names a flag missing its value, a switch given one, and a missing positional', () => {
    expect(usage(['x', '--org']).message).toBe('--org needs a value');
    expect(usage(['x', '--force=yes']).message).toBe('--force is a switch and takes no value');
    expect(usage(['x', '--org', '']).message).toBe('--org needs a non-empty value');
    expect(usage([]).message).toBe("'demo' needs <orgId>");
    expect(usage(['x', '-q']).message).toBe("unknown option -q for 'demo'");
  });

  it('suggests only close names', () => {
    expect(suggest('stauts', ['status', 'refresh'])).toBe('status');
    expect(suggest('frobnicate', ['status', 'refresh'])).toBeUndefined();
  });
});

describe('resolveTarget', () => {
  const files: Record<string, string> = {
    'camel.json': JSON.stringify({ registryTable: 'reg-t', auditTable: 'aud-t', prefix: 'p/x' }),
    'stack.json': JSON.stringify({ stack: 'from-file' }),
    'typo.json': JSON.stringify({ stak: 'x' }),
    'bad.json': '{nope',
  };
  const read = (path: string) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
    return text;
  };

  it('resolves each kind of target, with defaults', () => {
    expect(resolveTarget({ stack: 'my-broker' })).toEqual({ kind: 'stack', stackName: 'my-broker' });
    expect(resolveTarget({ 'registry-table': 'reg', 'audit-table': 'aud' })).toEqual({ kind: 'tables', registryTable: 'reg', auditTable: 'aud', secretPrefix: 'genesys-token-broker' });
    expect(resolveTarget({ local: true })).toEqual({ kind: 'local', dataDir: '.broker-data' });
    expect(resolveTarget({ 'data-dir': '/tmp/x' })).toEqual({ kind: 'local', dataDir: '/tmp/x' });
  });

  it('reads a config file in either key spelling, and lets flags win', () => {
    expect(resolveTarget({ config: 'camel.json' }, read)).toEqual({ kind: 'tables', registryTable: 'reg-t', auditTable: 'aud-t', secretPrefix: 'p/x' });
    expect(resolveTarget({ config: 'stack.json' }, read)).toEqual({ kind: 'stack', stackName: 'from-file' });
    expect(resolveTarget({ config: 'stack.json', stack: 'from-flag' }, read)).toEqual({ kind: 'stack', stackName: 'from-flag' });
  });

  it.each([
    [{}, /^no target/],
    [{ stack: 's', local: true }, /^choose one target, not --stack and --local/],
    [{ 'registry-table': 'reg' }, /needs both --registry-table and --audit-table \(missing --audit-table\)/],
    [{ 'registry-table': 'reg', 'audit-table': 'aud', prefix: 'ends/' }, /^--prefix must not end with a slash/],
    [{ 'registry-table': 'r', 'audit-table': 'aud' }, /^--registry-table must be a DynamoDB table name/],
    [{ stack: 'bad name' }, /^--stack must be a CloudFormation stack name/],
    [{ config: 'typo.json' }, /unknown key "stak"/],
    [{ config: 'bad.json' }, /is not valid JSON/],
    [{ config: 'missing.json' }, /cannot be read \(ENOENT\)/],
  ])('rejects %j', (values, message) => {
    expect(() => resolveTarget(values as Record<string, string | boolean>, read)).toThrow(message);
  });

  it('maps Genesys hosts under --genesys-base-url and accepts only plain http(s) URLs', () => {
    expect(genesysBaseUrl({})).toBeUndefined();
    expect(genesysBaseUrl({ 'genesys-base-url': 'http://127.0.0.1:9/' })!('login.mypurecloud.ie')).toBe('http://127.0.0.1:9/login.mypurecloud.ie');
    for (const bad of ['file:///etc', 'not a url', 'http://u:p@h/', 'http://h/?q=1']) {
      expect(() => genesysBaseUrl({ 'genesys-base-url': bad })).toThrow(/--genesys-base-url/);
    }
  });
});

describe('statusRow', () => {
  const org = (state: Partial<OrgRecord['state']>, extra: Partial<OrgRecord> = {}): OrgRecord => ({
    orgId: ORG,
    region: 'mypurecloud.ie',
    grantType: 'client_credentials',
    enabled: true,
    credentialsVersion: 1,
    version: 3,
    state: { consecutiveFailures: 0, ...state },
    ...extra,
  });
  const issued = NOW - (6 * H + 1000);
  const token = { issuedAtMs: issued, expiresAtMs: issued + 24 * H, refreshAtMs: issued + 18 * H, lastOutcome: 'success' as const };

  it.each([
    ['healthy', org(token), ['healthy', '6h 0m', '17h 59m', 'in 11h 59m', '-']],
    ['failing', org({ ...token, lastOutcome: 'failure', lastErrorCode: 'invalid_client', lastErrorClass: 'permanent', consecutiveFailures: 3, nextAttemptAtMs: NOW + 240_000 }), ['failing', '6h 0m', '17h 59m', 'retry in 4m 0s', 'invalid_client (3 in a row)']],
    ['at_risk', org({ ...token, refreshAtMs: NOW - 1000, lastOutcome: 'failure', lastErrorCode: 'upstream_unavailable', lastErrorClass: 'transient', consecutiveFailures: 1, nextAttemptAtMs: NOW - 5 }), ['at_risk', '6h 0m', '17h 59m', 'retry due now', 'upstream_unavailable']],
    ['expired', org({ issuedAtMs: NOW - 30 * H, expiresAtMs: NOW - 6 * H, refreshAtMs: NOW - 12 * H }), ['expired', '1d 6h', 'expired 6h 0m ago', 'due now', '-']],
    ['never issued', org({}), ['refresh_due', '-', '-', 'due now', '-']],
    ['disabled', org(token, { enabled: false, label: 'Off' }), ['disabled', '6h 0m', '17h 59m', '-', '-']],
    // An operator re-ran `orgs add`: the engine refreshes it at the next sweep, even mid-backoff.
    ['re-credentialed', org({ ...token, credentialsVersionUsed: 1, consecutiveFailures: 2, nextAttemptAtMs: NOW + H }, { credentialsVersion: 2 }), ['healthy', '6h 0m', '17h 59m', 'due now', '-']],
  ])('shows a %s org', (_name, record, cells) => {
    const row = statusRow(record, NOW, DEFAULT_POLICY);
    expect(statusCells(row, NOW).slice(3)).toEqual(cells);
    expect(statusCells(row, NOW).slice(0, 3)).toEqual([ORG, record.label ?? '-', 'eu-west-1']);
  });

  it('puts machine-readable fields in the JSON row', () => {
    expect(statusRow(org(token, { label: 'L' }), NOW, DEFAULT_POLICY)).toEqual({
      orgId: ORG,
      label: 'L',
      region: 'eu-west-1',
      enabled: true,
      health: 'healthy',
      issuedAt: new Date(issued).toISOString(),
      expiresAt: new Date(issued + 24 * H).toISOString(),
      tokenAgeSeconds: 6 * 3600 + 1,
      expiresInSeconds: 18 * 3600 - 1,
      nextRefreshAt: new Date(issued + 18 * H).toISOString(),
      nextRefreshKind: 'scheduled',
      lastOutcome: 'success',
      consecutiveFailures: 0,
    });
  });
});

describe('sweep reporting', () => {
  const summary = (over: Partial<SweepSummary>): SweepSummary => ({
    startedAt: new Date(NOW).toISOString(),
    durationMs: 1234,
    examined: 3,
    due: 2,
    refreshed: 1,
    failed: {},
    skipped: { leaseHeld: 0, notDue: 1, disabled: 0, backingOff: 0, notFound: 0, unreadable: 0 },
    deferred: 0,
    orgsAtRisk: 0,
    health: {},
    auditWriteFailures: 0,
    stateWriteFailures: 0,
    critical: 0,
    resultDetail: 'all',
    resultsOmitted: 0,
    results: [],
    ...over,
  });

  it('summarises a sweep on one line', () => {
    expect(summaryLine(summary({ failed: { invalid_client: 1 } }))).toBe('examined 3, due 2, refreshed 1, failed 1 (invalid_client: 1), not due 1; took 1.2 s');
  });

  it('counts orgs the registry could not read in the summary line', () => {
    const skipped = { leaseHeld: 0, notDue: 1, disabled: 0, backingOff: 0, notFound: 0, unreadable: 2 };
    expect(summaryLine(summary({ skipped }))).toBe('examined 3, due 2, refreshed 1, failed 0, not due 1, unreadable 2; took 1.2 s');
  });

  it('exits 1 on any failure or unreadable org, 4 on an unregistered org, 0 otherwise', () => {
    expect(sweepExitCode(summary({ skipped: { leaseHeld: 0, notDue: 1, disabled: 0, backingOff: 0, notFound: 0, unreadable: 1 } }))).toBe(EXIT.failed);
    expect(sweepExitCode(summary({}))).toBe(EXIT.ok);
    expect(sweepExitCode(summary({ failed: { rate_limited: 2 } }))).toBe(EXIT.failed);
    expect(sweepExitCode(summary({ registryError: 'registry_unavailable' }))).toBe(EXIT.failed);
    expect(sweepExitCode(summary({ results: [{ orgId: ORG, outcome: 'skipped', reason: 'not_found', errorCode: 'org_not_found' }] }))).toBe(EXIT.notFound);
  });
});

describe('corrupt status rows', () => {
  const damaged = { orgId: ORG, problem: 'not valid JSON', location: `/data/registry/${ORG}.json`, remedy: 'Restore the file from a backup.' };

  it('shows an unreadable org as corrupt with the registry error, and counts it as unhealthy', () => {
    const row = corruptStatusRow(damaged);
    expect(row).toEqual({ orgId: ORG, health: 'corrupt', lastErrorCode: 'registry_unavailable', problem: 'not valid JSON', location: `/data/registry/${ORG}.json`, remedy: 'Restore the file from a backup.' });
    expect(corruptStatusCells(row)).toEqual([ORG, '-', '-', 'corrupt', '-', '-', '-', 'registry_unavailable (see below)']);
    expect(UNHEALTHY.has('corrupt')).toBe(true);
  });

  it('notes each one under the table with its file, problem and remedy', () => {
    expect(unreadableNotes([])).toBe('');
    expect(unreadableNotes([damaged])).toBe(`\ncorrupt ${ORG} (/data/registry/${ORG}.json): not valid JSON\n  Restore the file from a backup.\n`);
  });
});

describe('exitCodeFor', () => {
  it('maps each error kind to its documented exit code', () => {
    expect(exitCodeFor(new UsageError('x'))).toBe(2);
    expect(exitCodeFor(new ValidationError('x'))).toBe(2);
    expect(exitCodeFor(new CliFailure(EXIT.verificationFailed, 'x'))).toBe(3);
    expect(exitCodeFor(new NotFoundError('org_not_found', 'x'))).toBe(4);
    expect(exitCodeFor(new BrokerError('registry_unavailable', 'x'))).toBe(1);
    expect(exitCodeFor(new Error('x'))).toBe(1);
  });
});

describe('verifyCredentials', () => {
  let sim: GenesysSimulator;
  const oauth = () => createOAuthClient({ fetch: globalThis.fetch as unknown as FetchLike, clock: systemClock, baseUrl: sim.resolver, maxRetries: 0 });

  beforeAll(async () => {
    sim = await GenesysSimulator.start();
    sim.addOrg({ orgId: ORG, region: 'ap-southeast-2' });
    sim.addClient({ clientId: 'cc', clientSecret: 'cc-secret', orgId: ORG });
    sim.addClient({ clientId: 'rt-only', clientSecret: 'rt-secret', orgId: ORG, grantTypes: ['refresh_token'], refreshToken: 'rt-live' });
    sim.addClient({ clientId: 'short', clientSecret: 'short-secret', orgId: ORG, tokenLifetimeSeconds: 1200 });
  });
  afterAll(() => sim.close());

  const verify = (clientId: string, clientSecret: string, grantType: 'client_credentials' | 'refresh_token', region = 'ap-southeast-2', refreshToken?: string, policy?: typeof DEFAULT_POLICY) =>
    verifyCredentials({
      orgId: ORG,
      region: resolveRegion(region),
      grantType,
      credentials: { clientId, clientSecret, ...(refreshToken ? { refreshToken } : {}) },
      oauth: oauth(),
      clock: systemClock,
      ...(policy ? { policy } : {}),
    });

  it("refuses a client whose tokens are shorter than the target's policy supports, naming the lifetime and the minimum", async () => {
    const result = await verify('short', 'short-secret', 'client_credentials', 'ap-southeast-2', undefined, DEFAULT_POLICY);
    expect(result).toMatchObject({ ok: false, reason: 'lifetime_too_short', code: 'token_lifetime_too_short' });
    expect(!result.ok && result.message).toBe(
      'client short issues tokens the broker cannot keep fresh: token lifetime 1200 s is below the minimum of 1334 s (22 min 14 s) for a 300 s sweep interval and a 600 s minimum write interval',
    );
    expect(!result.ok && result.hints[0]).toMatch(/raise the client's Token Duration/);
    expect((await verify('cc', 'cc-secret', 'client_credentials', 'ap-southeast-2', undefined, DEFAULT_POLICY)).ok).toBe(true);
  });

  it('says when no region knows the client id', async () => {
    const result = await verify('nobody', 'x', 'client_credentials');
    expect(result).toMatchObject({ ok: false, reason: 'wrong_region', foundIn: [] });
    expect(!result.ok && result.message).toMatch(/does not know client nobody .* and no other region knows it either$/);
  });

  it('finds a refresh_token-only client in its region without spending its refresh token', async () => {
    const result = await verify('rt-only', 'rt-secret', 'refresh_token', 'eu-west-1', 'rt-live');
    expect(result).toMatchObject({ ok: false, reason: 'wrong_region', foundIn: [{ key: 'ap-southeast-2' }] });
    expect(sim.currentRefreshToken('rt-only')).toBe('rt-live');
  });

  it('refuses a grant the client may not use, and a spent refresh token', async () => {
    expect(await verify('rt-only', 'rt-secret', 'client_credentials')).toMatchObject({ ok: false, reason: 'grant_not_allowed', code: 'unauthorized_client' });
    expect(await verify('rt-only', 'rt-secret', 'refresh_token', 'ap-southeast-2', 'rt-spent')).toMatchObject({ ok: false, reason: 'invalid_refresh_token', code: 'invalid_grant' });
  });

  it('returns the rotated refresh token to store on success', async () => {
    const result = await verify('rt-only', 'rt-secret', 'refresh_token', 'mypurecloud.com.au', 'rt-live');
    expect(result.ok).toBe(true);
    expect(result.ok && result.credentials.refreshToken).toBe(sim.currentRefreshToken('rt-only'));
    expect(result.ok && result.refreshTokenRotated).toBe(true);
  });

  it('throws an outage rather than calling it a refusal', async () => {
    sim.injectFault('cc', { kind: 'status', status: 503 });
    await expect(verify('cc', 'cc-secret', 'client_credentials')).rejects.toMatchObject({ code: 'upstream_unavailable' });
  });
});

const SHORT_ORG = 'd2000000-0000-4000-8000-000000000001';

describe('main in-process', () => {
  let sim: GenesysSimulator;
  let dataDir: string;
  const local = () => ['--local', '--data-dir', dataDir, '--genesys-base-url', sim.baseUrl];

  beforeAll(async () => {
    sim = await GenesysSimulator.start();
    sim.addOrg({ orgId: ORG, region: 'eu-west-2', name: 'Prompted' });
    sim.addClient({ clientId: 'tty-client', clientSecret: 'typed-secret-123', orgId: ORG });
    sim.addOrg({ orgId: SHORT_ORG, region: 'eu-west-2' });
    sim.addClient({ clientId: 'short-client', clientSecret: 'short-secret-123', orgId: SHORT_ORG, tokenLifetimeSeconds: 300 });
    dataDir = mkdtempSync(join(tmpdir(), 'broker-cli-unit-'));
  });
  afterAll(async () => {
    await sim.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints help with the exit codes, and fails usage without a command', async () => {
    const help = await runInProcess(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('3  verification failed');
    expect(help.stdout).toContain('--genesys-base-url <url>');
    const commandHelp = await runInProcess(['orgs', 'add', '--help', '--bogus']);
    expect(commandHelp.code).toBe(0);
    expect(commandHelp.stdout).toContain('--client-secret-stdin');
    expect(commandHelp.stdout).not.toContain('--genesys-base-url');
    expect((await runInProcess([])).code).toBe(2);
    expect((await runInProcess(['orgs'])).stderr).toContain("'orgs' needs a subcommand: add, list, enable, disable, remove");
    expect((await runInProcess(['--local', 'status'])).stderr).toContain('options come after the command');
  });

  it('refuses with exit 3 and stores nothing when the client\'s tokens are shorter than local mode supports', async () => {
    const add = await runInProcess(['orgs', 'add', '--org-id', SHORT_ORG, '--region', 'eu-west-2', '--client-id', 'short-client', ...local()], { stdinIsTTY: true, prompts: ['short-secret-123'] });
    expect(add.code).toBe(3);
    expect(add.stderr).toContain('error: refused: client short-client issues tokens the broker cannot keep fresh: token lifetime 300 s is below the minimum of 734 s (12 min 14 s) for a 300 s sweep interval and a 60 s minimum write interval');
    expect(add.stderr).toContain('Nothing was stored.');
    const store = new FileStore({ dataDir });
    expect(await store.registry.get(SHORT_ORG)).toBeUndefined();
    expect(await store.vault.read(SHORT_ORG)).toBeUndefined();
  });

  it('refuses to wait for a secret on a pipe without --client-secret-stdin', async () => {
    const run = await runInProcess(['orgs', 'add', '--org-id', ORG, '--region', 'eu-west-2', '--client-id', 'tty-client', ...local()]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error: stdin is not a terminal');
  });

  it('prompts for the secret on a terminal, then shows token metadata on a terminal and the token with --show', async () => {
    const add = await runInProcess(['orgs', 'add', '--org-id', ORG, '--region', 'euw2.pure.cloud', '--client-id', 'tty-client', ...local()], { stdinIsTTY: true, prompts: ['typed-secret-123'] });
    expect(add.code, add.stderr).toBe(0);
    const token = (await new FileStore({ dataDir }).vault.read(ORG))!;

    const onTerminal = await runInProcess(['token', '--org', ORG, ...local()], { stdoutIsTTY: true });
    expect(onTerminal.code).toBe(0);
    expect(onTerminal.stdout).toContain(`org        ${ORG}`);
    expect(onTerminal.stdout).toContain('api        https://api.euw2.pure.cloud (region euw2.pure.cloud)');
    expect(onTerminal.stdout).toContain('Pass --show to print it');
    const clipboard = clipboardCommand(process.platform, process.env);
    expect(onTerminal.stdout).toContain(clipboard ? `| ${clipboard}\n` : `TOKEN=$(genesys-token-broker token --org ${ORG} ...)`);
    if (process.platform !== 'darwin') expect(onTerminal.stdout).not.toContain('pbcopy');
    expect(onTerminal.stdout).not.toContain(token.accessToken);

    const shown = await runInProcess(['token', '--org', ORG, '--show', ...local()], { stdoutIsTTY: true });
    expect(shown.stdout).toBe(`${token.accessToken}\n`);
  });

  it('asks before removing on a terminal and removes nothing unless the org id is typed', async () => {
    const run = await runInProcess(['orgs', 'remove', ORG, ...local()], { stdinIsTTY: true, prompts: ['yes'] });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Not confirmed; nothing was removed.');
    expect(await new FileStore({ dataDir }).registry.get(ORG)).toBeDefined();
    const piped = await runInProcess(['orgs', 'remove', ORG, ...local()]);
    expect(piped.code).toBe(2);
    expect(piped.stderr).toContain('needs --yes when stdin is not a terminal');
  });

  it('never prints an expired token', async () => {
    const store = new FileStore({ dataDir });
    const current = (await store.vault.read(ORG))!;
    await store.vault.write({ ...current, accessToken: 'expired-token-value', issuedAt: new Date(Date.now() - 25 * H).toISOString(), expiresAt: new Date(Date.now() - H).toISOString() }, { attemptId: 'expired-attempt' });
    const run = await runInProcess(['token', '--org', ORG, ...local()]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/the stored token for org .* expired 1h 0m ago/);
  });

  it('disables and enables an org, and says when it is already so', async () => {
    expect((await runInProcess(['orgs', 'disable', ORG, ...local()])).stdout).toBe(`Org ${ORG} disabled.\n`);
    expect((await runInProcess(['orgs', 'disable', ORG, ...local()])).stdout).toBe(`Org ${ORG} was already disabled.\n`);
    const list = await runInProcess(['orgs', 'list', ...local()]);
    expect(list.stdout).toMatch(new RegExp(`${ORG}\\s+-\\s+eu-west-2\\s+client_credentials\\s+no\\s+1\\s+disabled`));
    expect((await runInProcess(['orgs', 'enable', ORG, ...local()])).stdout).toBe(`Org ${ORG} enabled.\n`);
    const missing = await runInProcess(['orgs', 'enable', 'd1000000-0000-4000-8000-0000000000ff', ...local()]);
    expect(missing.code).toBe(4);
  });
});

describe('withOrgLease', () => {
  const ORG_ID = '4f1c2b9e-0d4a-4c1e-9a57-2b8f6e1d0c33';
  const setup = () => {
    const clock = new ManualClock(Date.parse('2026-06-01T00:00:00Z'));
    const lease = new InMemoryLease();
    return { clock, lease, backend: { lease, clock } };
  };

  it('holds the org lease around the write and releases it after', async () => {
    const { clock, lease, backend } = setup();
    const seen = await withOrgLease(backend, ORG_ID, () => undefined, async () => lease.acquire(ORG_ID, 'refresher', 60_000, clock.now()));
    // While the operator wrote, a refresher could not take the org.
    expect(seen).toBeUndefined();
    expect(await lease.acquire(ORG_ID, 'refresher', 60_000, clock.now())).toBeDefined();
  });

  it('waits for a refresh holding the lease, past its expiry and the takeover grace', async () => {
    const { clock, lease, backend } = setup();
    const refresh = (await lease.acquire(ORG_ID, 'refresher', 10_000, clock.now()))!;
    let waits = 0;
    const wroteAt = await withOrgLease(backend, ORG_ID, () => waits++, async () => clock.now());
    expect(waits).toBe(1);
    expect(wroteAt).toBeGreaterThanOrEqual(refresh.expiresAtMs + LEASE_TAKEOVER_GRACE_MS);
  });

  it('writes an org that is not registered yet without a lease', async () => {
    const { backend } = setup();
    backend.lease.acquire = async () => {
      throw new NotFoundError('org_not_found', 'no such org');
    };
    expect(await withOrgLease(backend, ORG_ID, () => undefined, async () => 'written')).toBe('written');
  });

  it('gives up with nothing changed when the lease stays held', async () => {
    const { clock, lease, backend } = setup();
    backend.lease.acquire = async () => undefined;
    let wrote = false;
    const err = await withOrgLease(backend, ORG_ID, () => undefined, async () => {
      wrote = true;
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliFailure);
    expect((err as Error).message).toMatch(/nothing was changed/);
    expect(wrote).toBe(false);
    expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(ORG_LEASE_WAIT_MS);
    void lease;
  });
});
