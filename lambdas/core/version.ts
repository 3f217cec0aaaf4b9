/**
 * The broker's version, stamped on audit records and the User-Agent. A literal rather than a read of
 * package.json so the Lambda bundles carry it without the file; test/core/version.test.ts keeps the
 * two equal.
 */
export const BROKER_VERSION = '0.1.0';
