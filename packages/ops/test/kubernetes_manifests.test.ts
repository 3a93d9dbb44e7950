import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cli } from './operator_cli.js';
import {
  cloudNativePgProvides, crossReferenceProblems, generatedObjects, mergeProvided, parseYamlObjects, patchPaths, podTemplates,
  readKustomization, readResources, readYamlObjects, validateBuiltIn, type K8sObject,
} from './manifest_checks.js';

const K8S = fileURLToPath(new URL('../../../deploy/k8s/', import.meta.url));
const BASE = join(K8S, 'base');
const OVERLAY = join(K8S, 'overlays', 'minikube');

/** kubectl with kustomize v4 or later (the `labels` field), when this machine has one. */
const kustomizeVersion = /Kustomize Version: v(\d+)/.exec(spawnSync('kubectl', ['version', '--client']).stdout?.toString() ?? '')?.[1];
const hasKustomize = kustomizeVersion !== undefined && Number(kustomizeVersion) >= 4;

/** An operator directory with everything `k8s-secrets` needs, as the bootstrap script makes it. */
async function operatorDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'x3dh-ops-k8s-'));
  await cli('pki', 'init', '-d', dir);
  await cli('pki', 'broker', '-d', dir, '--dns', 'rabbitmq', '--ip', '10.96.100.100');
  await cli('pki', 'server-client', '-d', dir);
  await cli('pki', 'device', 'alice', 'bob', '-d', dir);
  await cli('wg', 'provision', 'alice', 'bob', '-d', dir, '--endpoint', '192.168.49.2:30000', '--listen-port', '51820', '--route', '10.96.100.100/32');
  return dir;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(dir, join(entry.parentPath, entry.name))).sort();
}

async function assertValidBuiltIns(objects: K8sObject[]): Promise<void> {
  for (const object of objects) {
    const problem = await validateBuiltIn(object);
    if (problem === 'unknown-kind') {
      assert.equal(object.apiVersion, 'postgresql.cnpg.io/v1', `${object.kind}/${object.metadata.name} is neither built in nor a known custom kind`);
    } else {
      assert.equal(problem, null);
    }
  }
}

describe('Kubernetes manifests', () => {
  let base: K8sObject[];
  let ops: string;
  before(async () => {
    base = await readResources(BASE);
    ops = await operatorDir();
  });

  it('base: built-in kinds pass the Kubernetes schema', async () => {
    assert.ok(base.length >= 15);
    await assertValidBuiltIns(base);
  });

  it('base + overlay generators: every reference resolves', async () => {
    const overlay = await readKustomization(OVERLAY);
    assert.equal(overlay.namespace, (await readKustomization(BASE)).namespace, 'generated objects must share the namespace, or kustomize leaves references unrenamed');
    const problems = crossReferenceProblems(base, mergeProvided(cloudNativePgProvides(base), generatedObjects(overlay)));
    assert.deepEqual(problems, []);
  });

  it('the cross-reference check reports broken references', () => {
    const broken = base
      .filter((object) => !(object.kind === 'ServiceAccount' && object.metadata.name === 'rabbitmq'))
      .map((object) => (object.kind === 'Service' && object.metadata.name === 'x3dh-server' ? { ...object, spec: { ...object.spec, selector: { app: 'nothing' } } } : object));
    const problems = crossReferenceProblems(broken, cloudNativePgProvides(base));
    assert.ok(problems.includes('StatefulSet/rabbitmq: ServiceAccount rabbitmq does not exist'), problems.join('\n'));
    assert.ok(problems.includes('RoleBinding/rabbitmq-peer-discovery: ServiceAccount rabbitmq does not exist'));
    assert.ok(problems.includes('Service/x3dh-server: selector matches no pod template'));
    assert.ok(problems.includes('Deployment/x3dh-server: Secret server-mqtt-tls does not exist'));
    assert.ok(problems.includes('StatefulSet/rabbitmq container rabbitmq: ConfigMap rabbitmq-config does not exist') || problems.includes('StatefulSet/rabbitmq: ConfigMap rabbitmq-config does not exist'));
  });

  it('overlay: generators read exactly what `x3dh-ops k8s-secrets` writes, and patches target base objects', async () => {
    const overlay = await readKustomization(OVERLAY);
    const out = await mkdtemp(join(tmpdir(), 'x3dh-ops-generated-'));
    await cli('k8s-secrets', '-d', ops, '-o', out);
    const declared = [...(overlay.secretGenerator ?? []), ...(overlay.configMapGenerator ?? [])].flatMap((generator) => generator.files).map((file) => file.replace(/^generated\//, '')).sort();
    assert.deepEqual(declared, await filesUnder(out));

    for (const path of patchPaths(OVERLAY, overlay)) {
      for (const patch of await readYamlObjects(path)) {
        const target = base.find((object) => object.kind === patch.kind && object.metadata.name === patch.metadata.name);
        assert.ok(target, `${path} patches ${patch.kind}/${patch.metadata.name}, which the base does not have`);
        const patchedContainers = ((patch.spec?.template as { spec?: { containers?: Array<{ name: string }> } })?.spec?.containers ?? []).map((container) => container.name);
        const targetContainers = podTemplates([target]).flatMap(({ pod }) => pod.containers.map((container) => container.name));
        for (const name of patchedContainers) assert.ok(targetContainers.includes(name), `${path}: container ${name}`);
      }
    }
  });

  it('RabbitMQ: three nodes that cluster through the Kubernetes API, with the Erlang cookie from a Secret', async () => {
    const set = base.find((object) => object.kind === 'StatefulSet' && object.metadata.name === 'rabbitmq')!;
    const spec = set.spec as { replicas: number; serviceName: string };
    assert.equal(spec.replicas, 3);
    const headless = base.find((object) => object.kind === 'Service' && object.metadata.name === spec.serviceName)!;
    assert.equal((headless.spec as { publishNotReadyAddresses?: boolean }).publishNotReadyAddresses, true, 'nodes find each other before they are ready');
    const out = await mkdtemp(join(tmpdir(), 'x3dh-ops-generated-'));
    await cli('k8s-secrets', '-d', ops, '-o', out, '--namespace', set.metadata.namespace!, '--headless-service', spec.serviceName);
    const config = await readFile(join(out, 'rabbitmq-config', 'rabbitmq.conf'), 'utf8');
    assert.match(config, /^cluster_formation\.peer_discovery_backend = rabbit_peer_discovery_k8s$/m);
    assert.match(config, new RegExp(`^cluster_formation\\.k8s\\.hostname_suffix = \\.${spec.serviceName}\\.${set.metadata.namespace}\\.svc\\.cluster\\.local$`, 'm'));
    assert.match(await readFile(join(out, 'rabbitmq-config', 'enabled_plugins'), 'utf8'), /rabbitmq_peer_discovery_k8s/);
    const env = podTemplates([set])[0]!.pod.containers[0]!.env!;
    assert.equal(env.find((variable) => variable.name === 'RABBITMQ_NODENAME')?.value, `rabbit@$(MY_POD_NAME).${spec.serviceName}.$(MY_POD_NAMESPACE).svc.cluster.local`);
    const cookie = (await readFile(join(out, 'rabbitmq-erlang-cookie', 'cookie'), 'utf8'));
    assert.ok(cookie.length >= 32);
    const again = await mkdtemp(join(tmpdir(), 'x3dh-ops-generated-'));
    await cli('k8s-secrets', '-d', ops, '-o', again);
    assert.notEqual(await readFile(join(again, 'rabbitmq-erlang-cookie', 'cookie'), 'utf8'), cookie, 'each deployment gets its own cookie');
    await cli('k8s-secrets', '-d', ops, '-o', out);
    assert.equal(await readFile(join(out, 'rabbitmq-erlang-cookie', 'cookie'), 'utf8'), cookie, 'a re-run keeps the running cluster\'s cookie');
  });

  it('workloads: probes and resources everywhere, 2+ server replicas, disruption budgets, a 3-instance database', () => {
    for (const { owner, pod } of podTemplates(base)) {
      for (const container of pod.containers) {
        const at = `${owner.kind}/${owner.metadata.name} ${container.name}`;
        assert.ok(container.readinessProbe && container.livenessProbe, `${at}: probes`);
        const resources = (container as { resources?: { requests?: object; limits?: { memory?: string } } }).resources;
        assert.ok(resources?.requests && resources.limits?.memory, `${at}: requests and a memory limit`);
      }
    }
    const server = base.find((object) => object.kind === 'Deployment' && object.metadata.name === 'x3dh-server')!;
    assert.ok((server.spec as { replicas: number }).replicas >= 2);
    const budgets = base.filter((object) => object.kind === 'PodDisruptionBudget').map((object) => object.metadata.name).sort();
    assert.deepEqual(budgets, ['rabbitmq', 'x3dh-server']);
    const database = base.find((object) => object.kind === 'Cluster')!;
    assert.equal(database.apiVersion, 'postgresql.cnpg.io/v1');
    const spec = database.spec as { instances: number; bootstrap: { initdb: { database: string; owner: string } }; storage: { size: string } };
    assert.equal(spec.instances, 3);
    assert.equal(spec.bootstrap.initdb.database, 'x3dh');
    assert.ok(spec.storage.size);
  });

  it('no password, key or cookie is written into the manifests', () => {
    assert.deepEqual(base.filter((object) => object.kind === 'Secret').map((object) => object.metadata.name), []);
    for (const { owner, pod } of podTemplates(base)) {
      for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
        for (const variable of container.env ?? []) {
          if (/PASS|SECRET|COOKIE|TOKEN|KEY$/i.test(variable.name) && variable.value !== undefined) {
            assert.match(variable.value, /^\/|^\$\(/, `${owner.metadata.name}: ${variable.name} is a literal`);
          }
          assert.doesNotMatch(variable.value ?? '', /:\/\/[^:/@$]+:[^@$(]+@/, `${owner.metadata.name}: ${variable.name} embeds a password`);
        }
      }
    }
  });

  it('renders with kubectl kustomize; the rendered overlay is schema-valid and fully linked', { skip: hasKustomize ? false : 'kubectl with kustomize v4+ is not installed' }, async () => {
    const copy = await mkdtemp(join(tmpdir(), 'x3dh-ops-render-'));
    await cp(K8S, copy, { recursive: true, filter: (source) => !source.includes(`${join('minikube', 'generated')}`) });
    await cli('k8s-secrets', '-d', ops, '-o', join(copy, 'overlays', 'minikube', 'generated'));
    const rendered = await new Promise<string>((resolve, reject) =>
      execFile('kubectl', ['kustomize', join(copy, 'overlays', 'minikube')], { maxBuffer: 16 << 20 }, (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout))));
    const objects = parseYamlObjects(rendered, 'kubectl kustomize');
    // kustomize wraps Secret data (base64) over lines, which the API server accepts and the
    // schema's "byte" format does not.
    const unwrapped = objects.map((object) =>
      object.kind === 'Secret' ? { ...object, data: Object.fromEntries(Object.entries(object.data as Record<string, string>).map(([key, value]) => [key, value.replace(/\s/g, '')])) } : object);
    await assertValidBuiltIns(unwrapped);
    assert.deepEqual(crossReferenceProblems(objects, cloudNativePgProvides(objects)), []);
    const generatedNames = objects.filter((object) => object.kind === 'Secret' || object.kind === 'ConfigMap').map((object) => object.metadata.name);
    assert.ok(generatedNames.every((name) => /-[a-z0-9]{10}$/.test(name)), 'generated names carry a content hash, so pods roll when they change');
    const service = objects.find((object) => object.kind === 'Service' && object.metadata.name === 'rabbitmq')!;
    assert.equal((service.spec as { clusterIP: string }).clusterIP, '10.96.100.100');
    assert.ok(objects.every((object) => object.kind === 'Namespace' || object.metadata.namespace === 'x3dh'));
  });
});
