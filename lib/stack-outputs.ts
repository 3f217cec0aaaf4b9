/**
 * CloudFormation output keys of the deployed broker stack: the stack beside this file
 * (lib/token-broker-stack.ts) emits them and the CLI (lib/cli/aws.ts) reads them with DescribeStacks.
 * Defined in a module with no imports, so the CLI never loads aws-cdk-lib (a dev dependency, and
 * seconds of start-up).
 */
export const STACK_OUTPUT_KEYS = Object.freeze({
  getterFunctionName: 'GetterFunctionName',
  getterFunctionArn: 'GetterFunctionArn',
  refresherFunctionName: 'RefresherFunctionName',
  refresherFunctionArn: 'RefresherFunctionArn',
  registryTableName: 'RegistryTableName',
  auditTableName: 'AuditTableName',
  secretPrefix: 'SecretPrefix',
  alarmTopicArn: 'AlarmTopicArn',
  encryptionKeyArn: 'EncryptionKeyArn',
  dashboardName: 'DashboardName',
} as const);

/** Outputs the CLI cannot work without. */
export const REQUIRED_STACK_OUTPUTS = [
  STACK_OUTPUT_KEYS.registryTableName,
  STACK_OUTPUT_KEYS.auditTableName,
  STACK_OUTPUT_KEYS.secretPrefix,
  STACK_OUTPUT_KEYS.refresherFunctionName,
] as const;
