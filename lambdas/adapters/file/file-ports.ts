/**
 * The composition root of the file world, for local mode and the CLI with a local target, as
 * adapters/aws is for the handlers. It takes typed settings and reads no `process.env`: the caller
 * decides the data directory.
 */
import { ValidationError } from '../../core/errors.js';
import { type BrokerPorts, systemClock } from '../../core/ports.js';
import {
  type FileAuditLog,
  type FileCredentialStore,
  type FileLease,
  type FileOrgRegistry,
  type FileRefreshTokenJournal,
  FileStore,
  type FileStoreOptions,
  type FileTokenVault,
} from './file-store.js';

/** The broker's ports over one data directory, typed as the file adapters that implement them. */
export interface FilePorts extends BrokerPorts {
  readonly registry: FileOrgRegistry;
  readonly credentials: FileCredentialStore;
  readonly vault: FileTokenVault;
  readonly audit: FileAuditLog;
  readonly lease: FileLease;
  readonly journal: FileRefreshTokenJournal;
  /** Absolute path of the data directory. */
  readonly dataDir: string;
  /** The store the ports belong to. */
  readonly store: FileStore;
}

/**
 * Builds one {@link FileStore} on `dataDir` and hands out its ports: local mode's and the CLI's one
 * root for the file world. Several roots (or processes) on the same directory coordinate through its
 * per-org lock files.
 *
 * @param dataDir directory holding all state; relative paths resolve against the working directory.
 * @param options the other {@link FileStoreOptions}; `clock` is also the ports' clock.
 * @throws ValidationError for a missing data directory or bad options; StoreError (`invalid_config`)
 *   when the directory cannot be prepared.
 *
 * @example
 * const ports = createFilePorts(dataDir);
 * const engine = createRefreshEngine({ ...ports, oauth });
 */
export function createFilePorts(dataDir: string, options: Omit<FileStoreOptions, 'dataDir'> = {}): FilePorts {
  // Checked here because FileStore would quietly fall back to its default directory for a missing one.
  if (typeof dataDir !== 'string' || dataDir.length === 0) {
    throw new ValidationError('file ports dataDir must be a non-empty path', { code: 'invalid_config', field: 'dataDir' });
  }
  if (options === null || typeof options !== 'object') {
    throw new ValidationError('file ports options must be an object', { code: 'invalid_config' });
  }
  const store = new FileStore({ ...options, dataDir });
  return {
    registry: store.registry,
    credentials: store.credentials,
    vault: store.vault,
    audit: store.audit,
    lease: store.lease,
    journal: store.journal,
    clock: options.clock ?? systemClock,
    dataDir: store.dataDir,
    store,
  };
}
