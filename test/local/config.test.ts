import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_SCHEDULE_SECONDS,
  formatPath,
  isLoopbackHost,
  locateConfigFile,
  parseLocalConfig,
  readLocalConfig,
  resolveApiKey,
  resolveOrgSecrets,
} from '../../lib/local/config.js';

const ORG_A = 'c0000000-0000-4000-8000-00000000000a';
const ORG_B = 'c0000000-0000-4000-8000-00000000000b';
const SOURCE = { source: 'broker.config.json', baseDir: '/srv/broker' };
const org = (extra: Record<string, unknown> = {}) => ({ orgId: ORG_A, region: 'mypurecloud.ie', clientId: 'client-a', clientSecretEnv: 'ACME_SECRET', ...extra });

/** The problems a config produces, or [] when it is valid. */
function problemsOf(json: unknown): string[] {
  try {
    parseLocalConfig(json, SOURCE);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'local-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('parseLocalConfig', () => {
  it('applies the documented defaults and normalises a region key to its domain', () => {
    const config = parseLocalConfig({ orgs: [org({ orgId: ORG_A.toUpperCase(), region: 'eu-west-1' })] }, SOURCE);
    expect(config).toEqual({
      source: 'broker.config.json',
      port: DEFAULT_PORT,
      host: DEFAULT_HOST,
      scheduleSeconds: DEFAULT_SCHEDULE_SECONDS,
      orgs: [{ orgId: ORG_A, region: 'mypurecloud.ie', grantType: 'client_credentials', enabled: true, clientId: 'client-a', clientSecretEnv: 'ACME_SECRET' }],
    });
    expect(DEFAULT_PORT).toBe(4180);
    expect(DEFAULT_HOST).toBe('127.0.0.1');
  });

  it('infers the refresh_token grant from refreshTokenEnv and keeps every optional setting', () => {
    const config = parseLocalConfig({
      dataDir: 'state',
      port: 0,
      host: '::1',
      apiKeyEnv: 'LOCAL_KEY',
      refreshAtFraction: 0.8,
      scheduleSeconds: 60,
      orgs: [org({ refreshTokenEnv: 'ACME_RT', label: 'Acme', enabled: false })],
    }, SOURCE);
    expect(config.dataDir).toBe('/srv/broker/state');
    expect(config).toMatchObject({ port: 0, host: '::1', apiKeyEnv: 'LOCAL_KEY', refreshAtFraction: 0.8, scheduleSeconds: 60 });
    expect(config.orgs[0]).toMatchObject({ grantType: 'refresh_token', refreshTokenEnv: 'ACME_RT', label: 'Acme', enabled: false });
  });

  it('names the JSON path and lists the valid regions for an unknown region', () => {
    const problems = problemsOf({ orgs: [org(), org({ orgId: ORG_B, region: 'mypurecloud.xx' })] });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^orgs\[1\]\.region: unknown Genesys Cloud region "mypurecloud\.xx"; valid regions: us-east-1 \(mypurecloud\.com\), .*eu-west-1 \(mypurecloud\.ie\)/);
  });

  it.each([
    ['a non-UUID org id', { orgs: [org({ orgId: 'acme' })] }, 'orgs[0].orgId: must be a Genesys Cloud organization id (a UUID)'],
    ['a missing clientId', { orgs: [{ orgId: ORG_A, region: 'mypurecloud.ie', clientSecretEnv: 'X' }] }, 'orgs[0].clientId: is required'],
    ['a missing orgs list', {}, 'orgs: is required'],
    ['an unknown grant type', { orgs: [org({ grantType: 'password' })] }, 'orgs[0].grantType: '],
    ['a duplicate org', { orgs: [org(), org({ clientId: 'other' })] }, 'orgs[1].orgId: duplicate of orgs[0].orgId'],
    ['refresh_token without refreshTokenEnv', { orgs: [org({ grantType: 'refresh_token' })] }, 'orgs[0].refreshTokenEnv: is required when grantType is "refresh_token"'],
    ['refreshTokenEnv with client_credentials', { orgs: [org({ grantType: 'client_credentials', refreshTokenEnv: 'RT' })] }, 'orgs[0].refreshTokenEnv: is only used with grantType "refresh_token"'],
    ['a typo in a top-level key', { prot: 1, orgs: [] }, 'prot: unknown key'],
    ['a typo in an org key', { orgs: [org({ lable: 'x' })] }, 'orgs[0].lable: unknown key'],
    ['a port out of range', { port: 70_000, orgs: [] }, 'port: '],
    ['a schedule under 5 s', { scheduleSeconds: 1, orgs: [] }, 'scheduleSeconds: '],
    ['a refresh fraction above 0.9', { refreshAtFraction: 0.95, orgs: [] }, 'refreshAtFraction: '],
    ['a host name that is not an address', { host: 'example.com', orgs: [] }, 'host: must be an IP address or "localhost"'],
    ['an org list that is not a list', { orgs: {} }, 'orgs: '],
    ['a config that is not an object', [], '(root): '],
  ])('reports %s with its path', (_name, json, expected) => {
    const problems = problemsOf(json);
    expect(problems.some((p) => p.startsWith(expected)), `got ${JSON.stringify(problems)}`).toBe(true);
  });

  it('reports every problem at once, in the error message too', () => {
    let error: ConfigError | undefined;
    try {
      parseLocalConfig({ port: -1, orgs: [org({ region: 'nowhere' }), org({ orgId: 'x' })] }, SOURCE);
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error?.code).toBe('invalid_config');
    expect(error?.problems.map((p) => p.split(':')[0])).toEqual(expect.arrayContaining(['port', 'orgs[0].region', 'orgs[1].orgId']));
    expect(error?.message).toMatch(/^broker\.config\.json: .*port: .*orgs\[0\]\.region: .*orgs\[1\]\.orgId: /);
  });

  it('refuses a secret written into the file and says where it belongs, without echoing it', () => {
    const secret = 'Sup3rSecretClientSecretValue-abc';
    let message = '';
    try {
      parseLocalConfig({ orgs: [org({ clientSecret: secret })], apiKey: 'k'.repeat(20) }, SOURCE);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('orgs[0].clientSecret: secrets do not belong in the config file');
    expect(message).toContain('clientSecretEnv');
    expect(message).toContain('apiKey: secrets do not belong in the config file');
    expect(message).not.toContain(secret);
  });

  it('refuses a secret pasted where an environment variable name belongs, without echoing it', () => {
    const pasted = 'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9';
    const problems = problemsOf({ orgs: [org({ clientSecretEnv: pasted })] });
    expect(problems[0]).toMatch(/^orgs\[0\]\.clientSecretEnv: must be the NAME of an environment variable/);
    expect(problems.join()).not.toContain(pasted);
  });

  it.each(['AB3DE5FG7HJ9KL1MN3PQ5RS7TU9VW1XY3ZA5BC7DE9', 'QWERTYUIOPASDFGHJKLZXCVBNMQWERTY', 'K9X2M4P7Q1W8E3R6T5Y0'])('refuses an all-upper-case secret pasted as a variable name, without echoing it (%s)', (pasted) => {
    const problems = problemsOf({ apiKeyEnv: pasted, orgs: [org({ clientSecretEnv: pasted, refreshTokenEnv: pasted })] });
    expect(problems).toHaveLength(3);
    for (const problem of problems) expect(problem).toMatch(/: must be the NAME of an environment variable/);
    expect(problems.join()).not.toContain(pasted);
  });

  it.each(['ACME_SECRET', 'GENESYS_ACME_CLIENT_SECRET', 'S', 'ORG2_RT', 'TENANT_12345_SECRET', '_PRIVATE_KEY'])('accepts the variable name %s', (name) => {
    expect(problemsOf({ orgs: [org({ clientSecretEnv: name })] })).toEqual([]);
  });
});

describe('messages about unset variables', () => {
  it('never echo a value that does not read as a variable name', () => {
    const pasted = 'AB3DE5FG7HJ9KL1MN3PQ5RS7TU9VW1XY3ZA5BC7DE9';
    const config = { ...parseLocalConfig({ orgs: [org()] }, SOURCE) };
    config.orgs = [{ ...config.orgs[0]!, clientSecretEnv: pasted }];
    expect(() => resolveOrgSecrets(config, {})).toThrow(/orgs\[0\]\.clientSecretEnv: environment variable \(the name is not shown/);
    expect(() => resolveOrgSecrets(config, {})).not.toThrow(pasted);
    expect(() => resolveApiKey({ source: 'cfg', host: '127.0.0.1', apiKeyEnv: pasted }, {})).toThrow(/apiKeyEnv: environment variable \(the name is not shown/);
  });
});

describe('readLocalConfig', () => {
  it('reads a file and resolves dataDir against the file directory', () => {
    const path = join(tmp, 'ok.json');
    writeFileSync(path, JSON.stringify({ dataDir: './data', orgs: [org()] }));
    expect(readLocalConfig(path).dataDir).toBe(join(tmp, 'data'));
  });

  it('reports invalid JSON with a line and column but not the text around it', () => {
    const path = join(tmp, 'bad.json');
    writeFileSync(path, '{\n  "orgs": [],\n  "apiKeyEnv": "X",,\n  "leaked": "TopSecretValue123"\n}');
    expect(() => readLocalConfig(path)).toThrow(/bad\.json: \(root\): not valid JSON at line 3, column \d+/);
    try {
      readLocalConfig(path);
    } catch (err) {
      expect((err as Error).message).not.toContain('TopSecretValue123');
    }
  });

  it('names the file and the path of a schema problem', () => {
    const path = join(tmp, 'region.json');
    writeFileSync(path, JSON.stringify({ orgs: [org({ region: 'mypurecloud.xx' })] }));
    expect(() => readLocalConfig(path)).toThrow(`${path}: orgs[0].region: unknown Genesys Cloud region "mypurecloud.xx"`);
  });
});

describe('locateConfigFile', () => {
  it('finds broker.config.json in the working directory, or nothing (demo mode)', () => {
    const dir = mkdtempSync(join(tmp, 'cwd-'));
    expect(locateConfigFile(dir)).toBeUndefined();
    writeFileSync(join(dir, 'broker.config.json'), '{"orgs":[]}');
    expect(locateConfigFile(dir)).toBe(join(dir, 'broker.config.json'));
  });

  it('refuses an explicit --config path that does not exist', () => {
    expect(() => locateConfigFile(tmp, 'missing.json')).toThrow(/missing\.json: \(root\): config file not found/);
  });
});

describe('resolveOrgSecrets', () => {
  const config = parseLocalConfig({ orgs: [org(), org({ orgId: ORG_B, clientSecretEnv: 'GLOBEX_SECRET', refreshTokenEnv: 'GLOBEX_RT' })] }, SOURCE);

  it('reads secrets from the named variables', () => {
    const resolved = resolveOrgSecrets(config, { ACME_SECRET: 'acme-secret', GLOBEX_SECRET: 'globex-secret', GLOBEX_RT: 'globex-rt' });
    expect(resolved.map((r) => [r.path, r.credentials])).toEqual([
      ['orgs[0]', { clientId: 'client-a', clientSecret: 'acme-secret' }],
      ['orgs[1]', { clientId: 'client-a', clientSecret: 'globex-secret', refreshToken: 'globex-rt' }],
    ]);
  });

  it('names the path and the variable when a secret is not set', () => {
    expect(() => resolveOrgSecrets(config, { GLOBEX_SECRET: 'x' })).toThrow('orgs[0].clientSecretEnv: environment variable ACME_SECRET is not set');
  });

  it('leaves an unset refresh token variable to the store sync', () => {
    const resolved = resolveOrgSecrets(config, { ACME_SECRET: 'a', GLOBEX_SECRET: 'b' });
    expect(resolved[1]?.credentials.refreshToken).toBeUndefined();
  });
});

describe('resolveApiKey', () => {
  const base = { source: 'cfg', host: '127.0.0.1' };

  it('has no key by default on a loopback host', () => {
    expect(resolveApiKey(base, {})).toBeUndefined();
  });

  it('takes BROKER_API_KEY, or the variable the config names', () => {
    expect(resolveApiKey(base, { BROKER_API_KEY: 'k'.repeat(16) })).toBe('k'.repeat(16));
    expect(resolveApiKey({ ...base, apiKeyEnv: 'MY_KEY' }, { MY_KEY: 'm'.repeat(20), BROKER_API_KEY: 'k'.repeat(16) })).toBe('m'.repeat(20));
  });

  it('fails closed when the named variable is missing', () => {
    expect(() => resolveApiKey({ ...base, apiKeyEnv: 'MY_KEY' }, {})).toThrow('apiKeyEnv: environment variable MY_KEY is not set');
  });

  it('refuses a short key without echoing it', () => {
    expect(() => resolveApiKey(base, { BROKER_API_KEY: 'short' })).toThrow(/BROKER_API_KEY: the key in BROKER_API_KEY is 5 characters; use at least 16/);
  });

  it.each(['with a space inside', ' leading-space-key-0123', 'trailing-newline-key-0123\n', 'tab\tinside-the-key-0123'])('refuses a key with whitespace at startup, without echoing it (%j)', (key) => {
    let message = '';
    try {
      resolveApiKey(base, { BROKER_API_KEY: key });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('BROKER_API_KEY: the key in BROKER_API_KEY contains whitespace');
    expect(message).not.toContain(key.trim());
  });

  it('requires a key before listening beyond loopback', () => {
    expect(() => resolveApiKey({ ...base, host: '0.0.0.0' }, {})).toThrow(/host: 0\.0\.0\.0 is reachable from other machines/);
    expect(resolveApiKey({ ...base, host: '0.0.0.0' }, { BROKER_API_KEY: 'k'.repeat(32) })).toBe('k'.repeat(32));
  });
});

describe('isLoopbackHost and formatPath', () => {
  it.each([['127.0.0.1', true], ['127.1.2.3', true], ['::1', true], ['localhost', true], ['0.0.0.0', false], ['10.0.0.1', false], ['::', false]])('classifies %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });

  it('formats paths as JSON accessors', () => {
    expect(formatPath(['orgs', 1, 'region'])).toBe('orgs[1].region');
    expect(formatPath([])).toBe('(root)');
  });
});
