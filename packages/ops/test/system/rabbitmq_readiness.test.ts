import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, hasRabbitMq, startRabbitMq, type RunningRabbitMq } from '@x3dh-iot/testkit';
import { cli } from '../operator_cli.js';

/**
 * The RabbitMQ StatefulSet's readiness probe (deploy/k8s/base/rabbitmq/probes/ready.sh) run against
 * a real node with the CLI's configuration: ready only as a member of a cluster with enough
 * running nodes and with the boot definitions imported. (The node here is alone: the required
 * member count is lowered to one to see it ready, and left at the deployment's two to see it not.)
 */
const PROBE = fileURLToPath(new URL('../../../../deploy/k8s/base/rabbitmq/probes/ready.sh', import.meta.url));

describe('RabbitMQ readiness probe', { skip: hasRabbitMq ? false : 'RabbitMQ is not installed' }, () => {
  let rabbit: RunningRabbitMq;

  const probe = (env: Record<string, string>) => new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile('sh', [PROBE], { env: { ...rabbit.cliEnv, ...env }, timeout: 120_000 }, (error, _stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr })));

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-rabbit-ready-'));
    await chmod(dir, 0o755);
    await cli('pki', 'init', '-d', dir);
    await cli('pki', 'broker', '-d', dir, '--ip', '127.0.0.1');
    await cli('pki', 'server-client', '-d', dir);
    const mqttPort = await freePort();
    const bundle = join(dir, 'brokers', 'rabbitmq');
    await cli('broker', 'rabbitmq', '-d', dir, '--install-dir', bundle, '--mqtt-port', String(mqttPort), '--amqp-port', String(await freePort()));
    rabbit = await startRabbitMq(join(dir, 'node'), { config: join(bundle, 'rabbitmq.conf'), plugins: join(bundle, 'enabled_plugins') }, `started MQTT TLS listener on [::]:${mqttPort}`);
  });

  after(async () => {
    await rabbit?.stop();
  });

  it('is ready as a cluster member with the definitions imported', async () => {
    const result = await probe({ X3DH_READY_MIN_NODES: '1' });
    assert.equal(result.code, 0, result.stderr);
  });

  it('is not ready while the cluster has fewer running members than required (a node alone)', async () => {
    const result = await probe({});
    assert.equal(result.code, 1);
    assert.match(result.stderr, /1 running cluster member\(s\), 2 needed/);
  });

  it('is not ready when the definitions are not imported', async () => {
    const result = await probe({ X3DH_READY_MIN_NODES: '1', X3DH_VHOST: 'not-imported' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /definitions not imported/);
  });
});
