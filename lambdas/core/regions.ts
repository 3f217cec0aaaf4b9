import { ValidationError } from './errors.js';

/** A Genesys Cloud region: its AWS-style key and the domain under which login. and api. live. */
export interface GenesysRegion {
  /** Region key as Genesys documents it, for example `eu-west-1`. */
  readonly key: string;
  /** Top-level domain, for example `mypurecloud.ie`. Login is `login.<domain>`, the API `api.<domain>`. */
  readonly domain: string;
  /** Human-readable location. */
  readonly name: string;
}

/**
 * Every Genesys Cloud region. Production configuration accepts only these, so an org record can
 * never send a client secret to an arbitrary host.
 */
export const REGIONS: readonly GenesysRegion[] = Object.freeze([
  { key: 'us-east-1', domain: 'mypurecloud.com', name: 'Americas (US East)' },
  { key: 'us-east-2', domain: 'use2.us-gov-pure.cloud', name: 'Americas (US East 2, FedRAMP)' },
  { key: 'us-west-2', domain: 'usw2.pure.cloud', name: 'Americas (US West)' },
  { key: 'ca-central-1', domain: 'cac1.pure.cloud', name: 'Americas (Canada)' },
  { key: 'sa-east-1', domain: 'sae1.pure.cloud', name: 'Americas (São Paulo)' },
  { key: 'mx-central-1', domain: 'mxc1.pure.cloud', name: 'Americas (Mexico)' },
  { key: 'eu-west-1', domain: 'mypurecloud.ie', name: 'EMEA (Dublin)' },
  { key: 'eu-west-2', domain: 'euw2.pure.cloud', name: 'EMEA (London)' },
  { key: 'eu-central-1', domain: 'mypurecloud.de', name: 'EMEA (Frankfurt)' },
  { key: 'eu-central-2', domain: 'euc2.pure.cloud', name: 'EMEA (Zurich)' },
  { key: 'me-central-1', domain: 'mec1.pure.cloud', name: 'EMEA (UAE)' },
  { key: 'eusc-de-east-1', domain: 'edee1.eusc-pure.cloud', name: 'EMEA (EU Sovereign Cloud)' },
  { key: 'ap-south-1', domain: 'aps1.pure.cloud', name: 'Asia Pacific (Mumbai)' },
  { key: 'ap-northeast-1', domain: 'mypurecloud.jp', name: 'Asia Pacific (Tokyo)' },
  { key: 'ap-northeast-2', domain: 'apne2.pure.cloud', name: 'Asia Pacific (Seoul)' },
  { key: 'ap-northeast-3', domain: 'apne3.pure.cloud', name: 'Asia Pacific (Osaka)' },
  { key: 'ap-southeast-1', domain: 'apse1.pure.cloud', name: 'Asia Pacific (Singapore)' },
  { key: 'ap-southeast-2', domain: 'mypurecloud.com.au', name: 'Asia Pacific (Sydney)' },
].map((r) => Object.freeze(r)));

const byName = new Map<string, GenesysRegion>();
for (const region of REGIONS) {
  byName.set(region.key, region);
  byName.set(region.domain, region);
}

/** Looks a region up by key (`eu-west-1`) or domain (`mypurecloud.ie`), case-insensitively. */
export function findRegion(keyOrDomain: string): GenesysRegion | undefined {
  return byName.get(keyOrDomain.trim().toLowerCase());
}

/** Like {@link findRegion}, but an unknown value is a `unknown_region` error that lists the valid ones. */
export function resolveRegion(keyOrDomain: string): GenesysRegion {
  const region = typeof keyOrDomain === 'string' ? findRegion(keyOrDomain) : undefined;
  if (!region) {
    const shown = typeof keyOrDomain === 'string' ? JSON.stringify(keyOrDomain.slice(0, 64)) : typeof keyOrDomain;
    throw new ValidationError(
      `unknown Genesys Cloud region ${shown}; valid regions: ${REGIONS.map((r) => `${r.key} (${r.domain})`).join(', ')}`,
      { code: 'unknown_region', field: 'region' },
    );
  }
  return region;
}

export type HostKind = 'login' | 'api';

/** The host for a region: `login.<domain>` or `api.<domain>`. */
export function hostFor(region: GenesysRegion, kind: HostKind): string {
  return `${kind}.${region.domain}`;
}

/**
 * Maps a Genesys host (`login.mypurecloud.ie`) to the base URL requests go to. Production uses
 * {@link httpsBaseUrl}. Tests and the local demo pass an override that points at the simulator; an
 * org record can never set it, because it is a constructor argument of the OAuth client, not data.
 */
export type BaseUrlResolver = (host: string) => string;

export const httpsBaseUrl: BaseUrlResolver = (host) => `https://${host}`;

/** The public API base URL consumers should call for an org in this region. */
export function apiBaseUrlFor(region: GenesysRegion): string {
  return `https://${hostFor(region, 'api')}`;
}
