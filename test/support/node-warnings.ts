// Test setup: the AWS SDK's NodeVersionSupportWarning at most once per worker process (lib/node-warnings.ts).
import { showNodeVersionWarningOnce } from '../../lib/node-warnings.js';

showNodeVersionWarningOnce();
