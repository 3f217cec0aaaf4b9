/**
 * Per-request limits of every AWS client the broker builds. Without them one hung call can hold a
 * sweep past its deadline, or keep writing after the org's lease ran out; with them (and the retries)
 * one call ends within about 15 s, well inside the engine's lease takeover grace.
 */
export const SDK_TIMEOUTS = Object.freeze({ connectionTimeout: 1_000, requestTimeout: 3_000, throwOnRequestTimeout: true });
