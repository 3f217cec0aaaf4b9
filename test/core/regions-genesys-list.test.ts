/**
 * Our region table (lambdas/core/regions.ts) checked against Genesys's own lists, both devDependencies
 * pinned exactly: `genesys-cloud-service-discovery-web` (`getEnvironments()`, the deployments Genesys
 * web apps discover) and the Platform SDK's `PureCloudRegionHosts`. A region Genesys adds fails this
 * build when the package is upgraded, instead of being refused when an operator onboards an org there.
 *
 * Our table stays the source of truth at runtime: it also carries the EU sovereign cloud, which the
 * service-discovery list does not (yet) name.
 */
import { type Environment, getEnvironments } from 'genesys-cloud-service-discovery-web';
import platformClient from 'purecloud-platform-client-v2';
import { describe, expect, it } from 'vitest';
import { findRegion, REGIONS } from '../../lambdas/core/regions.js';

/** The environments Genesys customers run in; `dev` and `test` are Genesys's own. */
const PUBLIC_ENVS: Environment['env'][] = ['prod', 'fedramp', 'eusc'];
/** Regions of our table that service discovery does not list, and why. */
const NOT_IN_SERVICE_DISCOVERY: Record<string, string> = {
  'eusc-de-east-1': 'the EU sovereign cloud; the SDK lists it (PureCloudRegionHosts.eusc_de_east_1), service discovery 3.0.500 does not',
};

const stable = getEnvironments({ env: PUBLIC_ENVS, status: ['stable'] });
const everything = getEnvironments({});

describe('the region table against genesys-cloud-service-discovery-web', () => {
  it('reads a real list: every stable public deployment, the US East one among them', () => {
    // 17 in 3.0.500. Fewer means the package changed its shape or its data: look before trusting a pass.
    expect(stable.length).toBeGreaterThanOrEqual(17);
    expect(stable).toContainEqual(expect.objectContaining({ env: 'prod', region: 'us-east-1', publicDomainName: 'mypurecloud.com', status: 'stable' }));
    expect(getEnvironments()).toEqual(stable);
  });

  it.each(stable.map((e) => [e.name, e]))('knows %s with the same region key and domain', (_name, deployment) => {
    const ours = findRegion(deployment.region);
    expect(ours, `${deployment.region} (${deployment.publicDomainName}) is missing from lambdas/core/regions.ts`).toBeDefined();
    expect({ key: ours!.key, domain: ours!.domain }).toEqual({ key: deployment.region, domain: deployment.publicDomainName });
    expect(findRegion(deployment.publicDomainName)).toBe(ours);
    // An alias Genesys serves the deployment under must not be another region of ours.
    for (const alias of deployment.publicDomainAliases) expect([undefined, ours]).toContain(findRegion(alias));
  });

  it('holds no region Genesys does not list, except those named here with a reason', () => {
    const listed = new Set(everything.map((e) => `${e.region} ${e.publicDomainName}`));
    const unlisted = REGIONS.filter((r) => !listed.has(`${r.key} ${r.domain}`)).map((r) => r.key);
    expect(unlisted).toEqual(Object.keys(NOT_IN_SERVICE_DISCOVERY));
  });
});

describe('the region table against the Platform SDK', () => {
  it('holds exactly the regions of PureCloudRegionHosts, with the same keys and domains', () => {
    const sdk = Object.entries(platformClient.PureCloudRegionHosts).map(([key, domain]) => ({ key: key.replaceAll('_', '-'), domain }));
    const ours = REGIONS.map(({ key, domain }) => ({ key, domain }));
    const byKey = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key);
    expect(ours.sort(byKey)).toEqual(sdk.sort(byKey));
  });
});
