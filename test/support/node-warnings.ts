// Test setup: the AWS SDK's NodeVersionSupportWarning at most once per worker process, and once per
// test run when global-setup.ts shared a marker path with the workers (lib/node-warnings.ts).
import { showNodeVersionWarningOnce } from '../../lib/node-warnings.js';

const marker = process.env.GTB_TEST_NODE_WARNING_MARKER;
showNodeVersionWarningOnce(undefined, marker ? { sharedMarker: marker } : {});
