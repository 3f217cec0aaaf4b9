/**
 * The broker's DynamoDB tables, built from the table designs the Lambda adapters use, so the keys
 * and indexes the code queries are the ones CloudFormation creates.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { KeyAttribute, TableDesign } from '../../../lambdas/adapters/aws/tables.js';

const ATTRIBUTE_TYPES: Record<KeyAttribute['type'], dynamodb.AttributeType> = {
  S: dynamodb.AttributeType.STRING,
  N: dynamodb.AttributeType.NUMBER,
};

const attribute = (key: KeyAttribute): dynamodb.Attribute => ({ name: key.name, type: ATTRIBUTE_TYPES[key.type] });

/** One on-demand table of `design`, encrypted with `encryptionKey`, with point-in-time recovery and the design's indexes. */
export function createTable(scope: Construct, id: string, design: TableDesign, encryptionKey: kms.IKey, removalPolicy: RemovalPolicy): dynamodb.Table {
  // dynamodb.Table (AWS::DynamoDB::Table) rather than TableV2 (AWS::DynamoDB::GlobalTable): a single-
  // Region table is what reviewers expect, and cdk-nag's point-in-time-recovery rule checks it.
  const table = new dynamodb.Table(scope, id, {
    partitionKey: attribute(design.partitionKey),
    ...(design.sortKey ? { sortKey: attribute(design.sortKey) } : {}),
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
    encryptionKey,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    ...(design.timeToLiveAttribute ? { timeToLiveAttribute: design.timeToLiveAttribute } : {}),
    removalPolicy,
    deletionProtection: removalPolicy !== RemovalPolicy.DESTROY,
  });
  for (const index of design.globalSecondaryIndexes) {
    table.addGlobalSecondaryIndex({
      indexName: index.indexName,
      partitionKey: attribute(index.partitionKey),
      ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
      projectionType: index.projectionType === 'ALL' ? dynamodb.ProjectionType.ALL : dynamodb.ProjectionType.KEYS_ONLY,
    });
  }
  return table;
}
