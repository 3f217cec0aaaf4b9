import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors.js';
import { apiBaseUrlFor, findRegion, hostFor, REGIONS, resolveRegion } from '../../lambdas/core/regions.js';

describe('regions', () => {
  it('knows all 18 Genesys Cloud regions, each key and domain once', () => {
    expect(REGIONS).toHaveLength(18);
    expect(new Set(REGIONS.map((r) => r.key)).size).toBe(18);
    expect(new Set(REGIONS.map((r) => r.domain)).size).toBe(18);
  });

  it.each([
    ['us-east-1', 'mypurecloud.com'],
    ['eu-west-1', 'mypurecloud.ie'],
    ['ap-southeast-2', 'mypurecloud.com.au'],
    ['ap-northeast-1', 'mypurecloud.jp'],
    ['eu-central-1', 'mypurecloud.de'],
    ['us-west-2', 'usw2.pure.cloud'],
    ['ca-central-1', 'cac1.pure.cloud'],
    ['ap-northeast-2', 'apne2.pure.cloud'],
    ['eu-west-2', 'euw2.pure.cloud'],
    ['ap-south-1', 'aps1.pure.cloud'],
    ['us-east-2', 'use2.us-gov-pure.cloud'],
    ['sa-east-1', 'sae1.pure.cloud'],
    ['me-central-1', 'mec1.pure.cloud'],
    ['ap-northeast-3', 'apne3.pure.cloud'],
    ['eu-central-2', 'euc2.pure.cloud'],
    ['mx-central-1', 'mxc1.pure.cloud'],
    ['ap-southeast-1', 'apse1.pure.cloud'],
    ['eusc-de-east-1', 'edee1.eusc-pure.cloud'],
  ])('resolves %s and %s to the same region', (key, domain) => {
    expect(resolveRegion(key)).toBe(resolveRegion(domain));
    expect(resolveRegion(key).domain).toBe(domain);
  });

  it('is case- and whitespace-insensitive', () => {
    expect(findRegion('  MyPureCloud.IE ')?.key).toBe('eu-west-1');
  });

  it('builds login and API hosts under the region domain', () => {
    const ie = resolveRegion('eu-west-1');
    expect(hostFor(ie, 'login')).toBe('login.mypurecloud.ie');
    expect(hostFor(ie, 'api')).toBe('api.mypurecloud.ie');
    expect(apiBaseUrlFor(ie)).toBe('https://api.mypurecloud.ie');
  });

  it.each(['mypurecloud.xx', 'evil.example.com', 'login.mypurecloud.ie', 'https://mypurecloud.ie', ''])('rejects %j with the list of valid regions', (value) => {
    let error: unknown;
    try {
      resolveRegion(value);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'unknown_region', field: 'region' });
    expect((error as Error).message).toContain('eu-west-1 (mypurecloud.ie)');
    expect((error as Error).message).toContain('eusc-de-east-1 (edee1.eusc-pure.cloud)');
  });
});
