/**
 * A CloudFormation stand-in for the CLI tests: answers DescribeStacks (awsQuery protocol, XML) on
 * 127.0.0.1 for the stacks a test registers, and ValidationError "does not exist" for the rest, as
 * CloudFormation does. Signatures are not checked; nothing else is implemented.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const NS = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export class CloudFormationStub {
  readonly #server: Server;
  readonly #stacks = new Map<string, Record<string, string>>();
  /** DescribeStacks requests seen. */
  describeCalls = 0;
  endpoint = '';

  private constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const requestId = randomUUID();
        const send = (status: number, body: string) => {
          res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId, 'content-length': Buffer.byteLength(body) });
          res.end(body);
        };
        if (form.get('Action') !== 'DescribeStacks') {
          return send(400, `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>not emulated</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`);
        }
        this.describeCalls++;
        const name = form.get('StackName') ?? '';
        const outputs = this.#stacks.get(name);
        if (!outputs) {
          return send(400, `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${xmlEscape(name)} does not exist</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`);
        }
        const members = Object.entries(outputs)
          .map(([k, v]) => `<member><OutputKey>${xmlEscape(k)}</OutputKey><OutputValue>${xmlEscape(v)}</OutputValue></member>`)
          .join('');
        send(
          200,
          `<DescribeStacksResponse xmlns="${NS}"><DescribeStacksResult><Stacks><member>` +
            `<StackName>${xmlEscape(name)}</StackName><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/${xmlEscape(name)}/${requestId}</StackId>` +
            `<CreationTime>2025-01-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs>${members}</Outputs>` +
            `</member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></DescribeStacksResponse>`,
        );
      });
    });
  }

  static async start(): Promise<CloudFormationStub> {
    const stub = new CloudFormationStub();
    await new Promise<void>((resolve) => stub.#server.listen(0, '127.0.0.1', () => resolve()));
    stub.endpoint = `http://127.0.0.1:${(stub.#server.address() as AddressInfo).port}`;
    return stub;
  }

  /** Makes DescribeStacks of `name` answer with these outputs. */
  addStack(name: string, outputs: Record<string, string>): void {
    this.#stacks.set(name, outputs);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
