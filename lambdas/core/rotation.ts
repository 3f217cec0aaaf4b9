/**
 * Rotating refresh tokens, made loss-proof. For a refresh_token org Genesys spends the presented
 * refresh token on every refresh and hands back a new one; from that moment the new one is the only
 * way to reach the org without a person re-authorizing it. So, with the refresh token journal:
 *
 * 1. Before the spend, a token left write-ahead by an interrupted attempt is used first, once its
 *    persist into the credentials is finished (until then the attempt stops and the journal keeps
 *    it); a spend a dead attempt began and never saw answered stops the org instead of presenting a
 *    possibly spent token ({@link Rotation.resume}).
 * 2. The spend is noted durably before the token is presented ({@link Rotation.beginSpend}).
 * 3. The moment Genesys answers with a new token, it is made durable in the journal (fenced by the
 *    org's lease), before validation, verification or any other write; if the journal cannot take it,
 *    straight into the credentials ({@link Rotation.secure}).
 * 4. After a valid grant the credentials get it too (built from the credentials read at the start,
 *    idempotent on the attempt id, refused when an operator replaced them meanwhile), and the journal
 *    entry is cleared ({@link Rotation.settle}). If the credentials cannot be written, the journal
 *    keeps the token and the next attempt finishes the job.
 *
 * What no software can close is the moment between Genesys spending a token and the journal holding
 * its successor (the answer crossing the network, then one write): a crash there is caught by step 1
 * on the next attempt and reported as `refresh_outcome_unknown`, never retried with the old token.
 *
 * Durable writes are retried until the attempt's deadline; none of them ever logs a token.
 */
import { BrokerError, ConflictError, StoreError, toBrokerError } from './errors.js';
import { fingerprint } from './fingerprint.js';
import type { Clock, CredentialStore, CurrentCredentials, JournalEntry, LeaseHandle, OrgRecord, PendingRefreshToken, RefreshTokenJournal, Telemetry } from './ports.js';

/** Re-exported for the tests and harnesses that name the spend a journal entry notes. */
export { fingerprint };

/** Thrown inside an attempt when the rotated refresh token could not be made durable. */
export class RefreshTokenPersistError extends StoreError {
  constructor(orgId: string, cause: unknown) {
    super('refresh_token_persist_failed', `rotated refresh token for org ${orgId} could not be persisted`, { orgId, cause, transient: false });
  }
}

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
   * The refresh token to present and the credentials to build on. A received token that belongs to
   * these credentials (same client, same credentials version) comes first: its persist into the
   * credentials is finished and the journal entry cleared; when the credentials refuse it, this throws
   * `credentials_unavailable` and the journal keeps it (it is not presented: the spend note would
   * replace the journal's only copy, and a refusal or a lost answer would then cost it). A spend a dead
   * attempt began on the token the credentials still hold throws `refresh_outcome_unknown`: Genesys
   * may have spent it. Entries of replaced credentials are left alone for the operator.
   */
  resume(org: OrgRecord, current: CurrentCredentials, handle: LeaseHandle): Promise<{ current: CurrentCredentials; refreshToken: string | undefined }>;
  /** Notes durably that `refreshToken` is about to be presented; throws (nothing spent) when the journal cannot take it. */
  beginSpend(org: OrgRecord, current: CurrentCredentials, handle: LeaseHandle, attemptId: string, refreshToken: string, deadlineMs: number): Promise<void>;
  /** The request was refused before Genesys spent anything (a 4xx or 429, or it never left): forgets the spend. */
  endSpend(org: OrgRecord, handle: LeaseHandle, attemptId: string): Promise<void>;
  /** Makes a rotated token durable before anything else happens. Never throws. */
  secure(org: OrgRecord, current: CurrentCredentials, handle: LeaseHandle, pending: PendingRefreshToken, deadlineMs: number): Promise<Secured>;
  /**
   * After a valid grant, mirrors a token the journal holds into the credentials and clears the
   * journal. Throws `credentials_changed_during_refresh` when an operator replaced the credentials
   * (the journal keeps the token for them); any other failure leaves the token in the journal.
   */
  settle(org: OrgRecord, current: CurrentCredentials, handle: LeaseHandle, pending: PendingRefreshToken, deadlineMs: number): Promise<'written' | 'kept'>;
}

/** A dead attempt presented the org's refresh token and never recorded the answer. */
export function spendInDoubt(orgId: string, attemptId: string): BrokerError {
  return new BrokerError('refresh_outcome_unknown', `attempt ${attemptId} presented the refresh token of org ${orgId} and stopped before recording Genesys' answer; the token may be spent and is not presented again: re-authorize the org`, { orgId });
}

/** A rotated refresh token the journal holds could not be written into the credentials, so it is not presented. */
function pendingNotPersisted(orgId: string, cause: unknown): StoreError {
  return new StoreError('credentials_unavailable', `the rotated refresh token held write-ahead for org ${orgId} could not be written into its credentials; it stays in the journal and is presented once they take it`, {
    orgId,
    cause,
    transient: toBrokerError(cause).failureClass !== 'permanent',
  });
}

/** An operator replaced the credentials mid-refresh: a conflict, so transient as the error catalog says. */
export function credentialsChanged(orgId: string): BrokerError {
  return new ConflictError('credentials_changed_during_refresh', `credentials of org ${orgId} were replaced while a refresh ran; the operator's are kept and the rotated refresh token stays write-ahead for inspection`, { orgId });
}

export function createRotation(deps: RotationDeps): Rotation {
  const { credentials, journal, clock, telemetry } = deps;
  const warn = (message: string, orgId: string, err: unknown) => telemetry.log('warn', message, { orgId, errorCode: toBrokerError(err).code });

  async function clear(org: OrgRecord, handle: LeaseHandle, attemptId: string): Promise<void> {
    try {
      await journal.clear(handle, attemptId);
    } catch (err) {
      // The credentials hold the token now; a stale journal entry is finished (a no-op) next time.
      warn('refresh token journal entry not cleared', org.orgId, err);
    }
  }

  /** A spend entry of a dead attempt: stale when the credentials moved on since, otherwise in doubt. */
  async function resumeSpend(org: OrgRecord, current: CurrentCredentials, handle: LeaseHandle, entry: Extract<JournalEntry, { kind: 'spending' }>) {
    if ((await fingerprint(current.credentials.refreshToken)) !== entry.presented) {
      // The answer's token reached the credentials after all (the journal was down then): nothing in doubt.
      await clear(org, handle, entry.attemptId);
      return { current, refreshToken: current.credentials.refreshToken };
    }
    throw spendInDoubt(org.orgId, entry.attemptId);
  }

  return {
    async resume(org, current, handle) {
      const entry = await journal.read(org.orgId);
      if (!entry) return { current, refreshToken: current.credentials.refreshToken };
      if (entry.clientId !== current.credentials.clientId || entry.credentialsVersion !== org.credentialsVersion) {
        telemetry.log('warn', 'a refresh token journal entry belongs to credentials an operator replaced; it is left for inspection', { orgId: org.orgId, attemptId: entry.attemptId });
        return { current, refreshToken: current.credentials.refreshToken };
      }
      if (entry.kind === 'spending') return resumeSpend(org, current, handle, entry);
      if (current.credentials.refreshToken !== entry.refreshToken) {
        try {
          // Idempotent on the attempt that received it: a write that landed before a crash is a no-op.
          const written = await credentials.rotateRefreshToken(org, current, entry.refreshToken, entry.attemptId);
          if (written === 'changed') throw credentialsChanged(org.orgId);
          current = await credentials.readCurrent(org);
        } catch (err) {
          if (err instanceof BrokerError && err.code === 'credentials_changed_during_refresh') throw err;
          // Not presented while only the journal holds it: beginSpend would replace that entry with a
          // spend note, and a refusal (429) or a lost answer would leave the credentials' spent token
          // as the only one stored. The entry stays; a later attempt finishes the persist first.
          warn('finishing an interrupted refresh token persist failed; the journal entry is kept and nothing is spent', org.orgId, err);
          throw pendingNotPersisted(org.orgId, err);
        }
      }
      await clear(org, handle, entry.attemptId);
      return { current, refreshToken: entry.refreshToken };
    },

    async beginSpend(org, current, handle, attemptId, refreshToken, deadlineMs) {
      const entry: JournalEntry = { kind: 'spending', attemptId, atMs: clock.now(), clientId: current.credentials.clientId, credentialsVersion: org.credentialsVersion, presented: await fingerprint(refreshToken) };
      await retryUntil(clock, deadlineMs, () => journal.record(handle, entry), (err, tries) => warn(`journal write before a refresh token spend failed (try ${tries})`, org.orgId, err));
    },

    async endSpend(org, handle, attemptId) {
      await clear(org, handle, attemptId);
    },

    async secure(org, current, handle, pending, deadlineMs) {
      try {
        await retryUntil(clock, deadlineMs, () => journal.record(handle, pending), (err, tries) => warn(`journal write of a rotated refresh token failed (try ${tries})`, org.orgId, err));
        return { kind: 'journal' };
      } catch (journalError) {
        telemetry.log('error', 'the refresh token journal refused a rotated refresh token; writing it to the credentials directly', { orgId: org.orgId, errorCode: toBrokerError(journalError).code });
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
