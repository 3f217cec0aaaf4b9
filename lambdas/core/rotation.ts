/**
 * Rotating refresh tokens, made loss-proof. For a refresh_token org Genesys spends the presented
 * refresh token on every refresh and hands back a new one; from that moment the new one is the only
 * way to reach the org without a person re-authorizing it. So:
 *
 * 1. Before the spend, a token left write-ahead by an interrupted attempt is used first, and its
 *    persist into the credentials is finished ({@link Rotation.resume}).
 * 2. The moment Genesys answers with a new token, it is made durable write-ahead in the journal
 *    (fenced by the org's lease), before validation, verification or any other write; if the journal
 *    cannot take it, straight into the credentials ({@link Rotation.secure}).
 * 3. After a valid grant the credentials get it too (built from the credentials read at the start,
 *    idempotent on the attempt id, refused when an operator replaced them meanwhile), and the journal
 *    entry is cleared ({@link Rotation.settle}). If the credentials cannot be written, the journal
 *    keeps the token and the next attempt finishes the job.
 *
 * Durable writes are retried until the attempt's deadline; none of them ever logs a token.
 */
import { BrokerError, ConflictError, toBrokerError } from './errors.js';
import type { Clock, CredentialStore, CurrentCredentials, LeaseHandle, OrgRecord, PendingRefreshToken, RefreshTokenJournal, Telemetry } from './ports.js';

/** Longest pause between two tries of a durable write. */
const MAX_PAUSE_MS = 2_000;

/**
 * Runs `write` until it succeeds, or until another try would start after `deadlineMs` (at least one
 * try). Pauses grow 100, 200, 400 ms ... up to {@link MAX_PAUSE_MS}. A lost lease is final and not retried.
 */
export async function retryUntil<T>(clock: Pick<Clock, 'now' | 'sleep'>, deadlineMs: number, write: () => Promise<T>, onFailure?: (err: unknown, tries: number) => void): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await write();
    } catch (err) {
      onFailure?.(err, tries);
      const pauseMs = Math.min(MAX_PAUSE_MS, 100 * 2 ** (tries - 1));
      if (err instanceof ConflictError || clock.now() + pauseMs >= deadlineMs) throw err;
      await clock.sleep(pauseMs);
    }
  }
}

/** Where a rotated refresh token was made durable, or why it was not. */
export type Secured =
  | { kind: 'journal' }
  | { kind: 'credentials' }
  /** The journal refused and the credentials were replaced by an operator meanwhile. */
  | { kind: 'changed' }
  /** Neither store took it: the org needs re-authorization. */
  | { kind: 'lost'; error: BrokerError };

export interface RotationDeps {
  credentials: CredentialStore;
  journal: RefreshTokenJournal;
  clock: Clock;
  telemetry: Telemetry;
}

export interface Rotation {
  /**
   * The refresh token to present and the credentials to build on. A pending token that belongs to
   * these credentials (same client, same credentials version) comes first; its persist into the
   * credentials is finished, and the journal entry cleared, when the store allows. A pending token
   * of replaced credentials is left alone for the operator.
   */
  resume(org: OrgRecord, current: CurrentCredentials, handle: LeaseHandle): Promise<{ current: CurrentCredentials; refreshToken: string | undefined }>;
  /** Makes a rotated token durable before anything else happens. Never throws. */
  secure(org: OrgRecord, current: CurrentCredentials, handle: LeaseHandle, pending: PendingRefreshToken, deadlineMs: number): Promise<Secured>;
  /**
   * After a valid grant, mirrors a token the journal holds into the credentials and clears the
   * journal. Throws `credentials_changed_during_refresh` when an operator replaced the credentials
   * (the journal keeps the token for them); any other failure leaves the token in the journal.
   */
  settle(org: OrgRecord, current: CurrentCredentials, handle: LeaseHandle, pending: PendingRefreshToken, deadlineMs: number): Promise<'written' | 'kept'>;
}

export function credentialsChanged(orgId: string): BrokerError {
  return new BrokerError('credentials_changed_during_refresh', `credentials of org ${orgId} were replaced while a refresh ran; the operator's are kept and the rotated refresh token stays write-ahead for inspection`, { orgId });
}

export function createRotation(deps: RotationDeps): Rotation {
  const { credentials, journal, clock, telemetry } = deps;
  const warn = (message: string, orgId: string, err: unknown) => telemetry.log('warn', message, { orgId, errorCode: toBrokerError(err).code });

  async function clear(org: OrgRecord, handle: LeaseHandle, attemptId: string): Promise<void> {
    try {
      await journal.clear(handle, attemptId);
    } catch (err) {
      // The credentials hold the token now; a stale journal entry is finished (a no-op) next time.
      warn('write-ahead entry not cleared', org.orgId, err);
    }
  }

  return {
    async resume(org, current, handle) {
      const pending = await journal.pending(org.orgId);
      if (!pending) return { current, refreshToken: current.credentials.refreshToken };
      if (pending.clientId !== current.credentials.clientId || pending.credentialsVersion !== org.credentialsVersion) {
        telemetry.log('warn', 'a write-ahead refresh token belongs to credentials an operator replaced; it is left for inspection', { orgId: org.orgId, attemptId: pending.attemptId });
        return { current, refreshToken: current.credentials.refreshToken };
      }
      if (current.credentials.refreshToken !== pending.refreshToken) {
        try {
          // Idempotent on the attempt that received it: a write that landed before a crash is a no-op.
          const written = await credentials.rotateRefreshToken(org, current, pending.refreshToken, pending.attemptId);
          if (written === 'changed') throw credentialsChanged(org.orgId);
          current = await credentials.readCurrent(org);
        } catch (err) {
          if (err instanceof BrokerError && err.code === 'credentials_changed_during_refresh') throw err;
          // The journal still holds it: present it anyway, and persist with this attempt's new one.
          warn('finishing an interrupted refresh token persist failed; the write-ahead entry is kept', org.orgId, err);
          return { current, refreshToken: pending.refreshToken };
        }
      }
      await clear(org, handle, pending.attemptId);
      return { current, refreshToken: pending.refreshToken };
    },

    async secure(org, current, handle, pending, deadlineMs) {
      try {
        await retryUntil(clock, deadlineMs, () => journal.record(handle, pending), (err, tries) => warn(`write-ahead of a rotated refresh token failed (try ${tries})`, org.orgId, err));
        return { kind: 'journal' };
      } catch (journalError) {
        telemetry.log('error', 'write-ahead journal refused a rotated refresh token; writing it to the credentials directly', { orgId: org.orgId, errorCode: toBrokerError(journalError).code });
        try {
          const written = await retryUntil(clock, deadlineMs, () => credentials.rotateRefreshToken(org, current, pending.refreshToken, pending.attemptId), (err, tries) =>
            warn(`credentials write of a rotated refresh token failed (try ${tries})`, org.orgId, err),
          );
          return written === 'written' ? { kind: 'credentials' } : { kind: 'changed' };
        } catch (err) {
          return { kind: 'lost', error: toBrokerError(err, 'refresh_token_persist_failed', org.orgId) };
        }
      }
    },

    async settle(org, current, handle, pending, deadlineMs) {
      let written;
      try {
        written = await retryUntil(clock, deadlineMs, () => credentials.rotateRefreshToken(org, current, pending.refreshToken, pending.attemptId));
      } catch (err) {
        warn('credentials write of a rotated refresh token failed; the write-ahead entry keeps it for the next attempt', org.orgId, err);
        return 'kept';
      }
      if (written === 'changed') throw credentialsChanged(org.orgId);
      await clear(org, handle, pending.attemptId);
      return 'written';
    },
  };
}
