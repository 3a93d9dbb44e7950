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
/** Custom kinds the manifests use: CloudNativePG's and the Prometheus Operator's. */
const CUSTOM_GROUPS = ['postgresql.cnpg.io/v1', 'monitoring.coreos.com/v1'];
/** Images this repository builds (deploy/Dockerfile, deploy/wireguard); an overlay names their build. */
const OWN_IMAGES = ['x3dh-server', 'x3dh-wireguard'];
/** Generated objects with a fixed name: their changes apply without restarting anything. */
const FIXED_NAMES = ['wireguard-peers', 'x3dh-grafana-dashboard'];

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

/** The minikube overlay as `kubectl kustomize` renders it, with `k8s-secrets` output from `ops`. */
async function renderOverlay(ops: string): Promise<K8sObject[]> {
  const copy = await mkdtemp(join(tmpdir(), 'x3dh-ops-render-'));
  await cp(K8S, copy, { recursive: true, filter: (source) => !source.includes(`${join('minikube', 'generated')}`) });
  // Generated where the operator keeps it between runs (the Erlang cookie is kept), then rendered.
  await cli('k8s-secrets', '-d', ops, '-o', join(ops, 'generated'));
  await cp(join(ops, 'generated'), join(copy, 'overlays', 'minikube', 'generated'), { recursive: true });
  const rendered = await new Promise<string>((resolve, reject) =>
    execFile('kubectl', ['kustomize', join(copy, 'overlays', 'minikube')], { maxBuffer: 16 << 20 }, (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout))));
  return parseYamlObjects(rendered, 'kubectl kustomize');
}

/** The minikube-v1 overlay (the original firmware's path) rendered with `k8s-secrets --enable-v1`. */
async function renderV1Overlay(ops: string): Promise<{ objects: K8sObject[]; generated: string }> {
  const copy = await mkdtemp(join(tmpdir(), 'x3dh-ops-render-v1-'));
  await cp(K8S, copy, { recursive: true, filter: (source) => !source.includes('generated') });
  await cli('k8s-secrets', '-d', ops, '-o', join(ops, 'generated'), '--enable-v1', join(ops, 'generated-v1'));
  await cp(join(ops, 'generated'), join(copy, 'overlays', 'minikube', 'generated'), { recursive: true });
  await cp(join(ops, 'generated-v1'), join(copy, 'overlays', 'minikube-v1', 'generated'), { recursive: true });
  const rendered = await new Promise<string>((resolve, reject) =>
    execFile('kubectl', ['kustomize', join(copy, 'overlays', 'minikube-v1')], { maxBuffer: 16 << 20 }, (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout))));
  return { objects: parseYamlObjects(rendered, 'kubectl kustomize'), generated: join(ops, 'generated') };
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(dir, join(entry.parentPath, entry.name))).sort();
}

async function assertValidBuiltIns(objects: K8sObject[]): Promise<void> {
  for (const object of objects) {
    const problem = await validateBuiltIn(object);
    if (problem === 'unknown-kind') {
      assert.ok(CUSTOM_GROUPS.includes(object.apiVersion), `${object.kind}/${object.metadata.name} is neither built in nor a known custom kind`);
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
    const problems = crossReferenceProblems(base, mergeProvided(cloudNativePgProvides(base), generatedObjects(await readKustomization(BASE)), generatedObjects(overlay)));
    assert.deepEqual(problems, []);
  });

  it('the cross-reference check reports broken references', () => {
    const broken = base
      .filter((object) => !(object.kind === 'ServiceAccount' && object.metadata.name === 'rabbitmq'))
      .map((object) => (object.kind === 'Service' && object.metadata.name === 'x3dh-server' ? { ...object, spec: { ...object.spec, selector: { app: 'nothing' } } } : object));
    const problems = crossReferenceProblems(broken, cloudNativePgProvides(base));
    assert.ok(problems.includes('StatefulSet/rabbitmq: ServiceAccount rabbitmq does not exist'), problems.join('\n'));
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

  it('RabbitMQ: three nodes that cluster by RabbitMQ 4.1\'s StatefulSet peer discovery, without Kubernetes API access, the Erlang cookie from a Secret', async () => {
    const set = base.find((object) => object.kind === 'StatefulSet' && object.metadata.name === 'rabbitmq')!;
    const spec = set.spec as { replicas: number; serviceName: string };
    assert.equal(spec.replicas, 3);
    const headless = base.find((object) => object.kind === 'Service' && object.metadata.name === spec.serviceName)!;
    assert.equal((headless.spec as { publishNotReadyAddresses?: boolean }).publishNotReadyAddresses, true, 'nodes find the seed node before they are ready');
    const out = await mkdtemp(join(tmpdir(), 'x3dh-ops-generated-'));
    await cli('k8s-secrets', '-d', ops, '-o', out);
    const config = await readFile(join(out, 'rabbitmq-config', 'rabbitmq.conf'), 'utf8');
    assert.match(config, /^cluster_formation\.peer_discovery_backend = rabbit_peer_discovery_k8s$/m);
    assert.doesNotMatch(config, /cluster_formation\.k8s\./, '4.1 derives the seed node from the pod\'s name; the API settings are gone');
    assert.match(await readFile(join(out, 'rabbitmq-config', 'enabled_plugins'), 'utf8'), /rabbitmq_peer_discovery_k8s/);
    const { pod } = podTemplates([set])[0]!;
    const env = pod.containers[0]!.env!;
    assert.equal(env.find((variable) => variable.name === 'RABBITMQ_NODENAME')?.value, `rabbit@$(MY_POD_NAME).${spec.serviceName}.$(MY_POD_NAMESPACE).svc.cluster.local`);
    assert.equal((pod as { automountServiceAccountToken?: boolean }).automountServiceAccountToken, false, 'no service-account token');
    assert.deepEqual(base.filter((object) => ['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'].includes(object.kind)), [], 'no API permissions');
    const container = pod.containers[0]!;
    assert.deepEqual(container.readinessProbe?.exec?.command, ['sh', '/etc/rabbitmq/probes/ready.sh']);
    assert.deepEqual(container.livenessProbe?.exec?.command, ['rabbitmq-diagnostics', '--quiet', 'ping']);
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    assert.doesNotMatch(await readFile(join(out, 'rabbitmq-definitions', 'definitions.json'), 'utf8'), /alice|bob/, 'devices are applied live, never at boot');
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
    const objects = await renderOverlay(ops);
    // kustomize wraps Secret data (base64) over lines, which the API server accepts and the
    // schema's "byte" format does not.
    const unwrapped = objects.map((object) =>
      object.kind === 'Secret' ? { ...object, data: Object.fromEntries(Object.entries(object.data as Record<string, string>).map(([key, value]) => [key, value.replace(/\s/g, '')])) } : object);
    await assertValidBuiltIns(unwrapped);
    assert.deepEqual(crossReferenceProblems(objects, cloudNativePgProvides(objects)), []);
    const generatedNames = objects.filter((object) => object.kind === 'Secret' || object.kind === 'ConfigMap').map((object) => object.metadata.name);
    assert.ok(generatedNames.every((name) => FIXED_NAMES.includes(name) || /-[a-z0-9]{10}$/.test(name)), 'generated names carry a content hash, so pods roll when they change');
    const service = objects.find((object) => object.kind === 'Service' && object.metadata.name === 'rabbitmq')!;
    assert.equal((service.spec as { clusterIP: string }).clusterIP, '10.96.100.100');
    assert.ok(objects.every((object) => object.kind === 'Namespace' || object.metadata.namespace === 'x3dh'));
  });

  it('adding and revoking devices changes no pod template: nothing restarts', { skip: hasKustomize ? false : 'kubectl with kustomize v4+ is not installed' }, async () => {
    const dir = await operatorDir();
    const templates = (objects: K8sObject[]) => JSON.stringify(podTemplates(objects).map(({ owner }) => [owner.kind, owner.metadata.name, (owner.spec as { template: unknown }).template]));
    const data = (objects: K8sObject[], name: string) => JSON.stringify(objects.find((object) => object.metadata.name === name)?.data);
    const before = await renderOverlay(dir);
    await cli('pki', 'device', 'carol', '-d', dir);
    await cli('wg', 'provision', 'carol', '-d', dir);
    const added = await renderOverlay(dir);
    assert.equal(templates(added), templates(before), 'adding a device');
    assert.notEqual(data(added, 'wireguard-peers'), data(before, 'wireguard-peers'), 'the device list changed (applied live by the peer controller)');
    await cli('pki', 'revoke', 'bob', '--certificate-only', '-d', dir);
    await cli('wg', 'remove', 'bob', '-d', dir);
    const revoked = await renderOverlay(dir);
    assert.equal(templates(revoked), templates(before), 'revoking a device');
    const names = (objects: K8sObject[]) => objects.map((object) => `${object.kind}/${object.metadata.name}`).sort();
    assert.deepEqual(names(revoked), names(before), 'no hashed name changed');
  });

  it('every image is pinned by digest (images built here excepted: the overlay names their build)', async () => {
    const components = await readResources(join(K8S, 'components', 'monitoring'));
    const unpinned = podTemplates([...base, ...components])
      .flatMap(({ owner, pod }) => [...pod.containers, ...(pod.initContainers ?? [])].map((container) => ({ at: `${owner.metadata.name}/${container.name}`, image: container.image ?? '' })))
      .filter(({ image }) => !OWN_IMAGES.includes(image) && !/@sha256:[0-9a-f]{64}$/.test(image));
    assert.deepEqual(unpinned, []);
  });

  it('network policies: ingress denied by default; the database only from the key server and its operator, AMQP only from the key server, MQTT from the VPN gateway and the key server', () => {
    type Peer = { podSelector?: { matchLabels?: Record<string, string> }; namespaceSelector?: { matchLabels?: Record<string, string> } };
    type Rule = { from?: Peer[]; to?: Peer[]; ports?: Array<{ port: number | string; protocol?: string }> };
    type Policy = { podSelector: { matchLabels?: Record<string, string> }; policyTypes: string[]; ingress?: Rule[]; egress?: Rule[] };
    const policies = base.filter((object) => object.kind === 'NetworkPolicy').map((object) => object.spec as unknown as Policy);
    assert.ok(policies.some((policy) => Object.keys(policy.podSelector.matchLabels ?? {}).length === 0 && policy.policyTypes.includes('Ingress') && !policy.ingress), 'a default deny for ingress');
    const policyFor = (labels: Record<string, string>) => {
      const found = policies.filter((policy) => Object.keys(policy.podSelector.matchLabels ?? {}).length > 0 && Object.entries(policy.podSelector.matchLabels!).every(([key, value]) => labels[key] === value));
      assert.equal(found.length, 1, `one policy for ${JSON.stringify(labels)}`);
      return found[0]!;
    };
    for (const { labels } of podTemplates(base)) policyFor(labels);
    const peerName = (peer: Peer) => peer.podSelector?.matchLabels?.['app.kubernetes.io/name'] ?? peer.podSelector?.matchLabels?.['cnpg.io/cluster'] ?? `namespace ${peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name']}`;
    /** Who may reach a port (by number or name) of the pods with these labels. */
    const allowed = (labels: Record<string, string>, ...ports: Array<number | string>) =>
      (policyFor(labels).ingress ?? []).filter((rule) => (rule.ports ?? []).some((entry) => ports.includes(entry.port))).flatMap((rule) => (rule.from ?? []).map(peerName)).sort();
    const rabbit = { 'app.kubernetes.io/name': 'rabbitmq' };
    assert.deepEqual(allowed(rabbit, 'amqps', 5671), ['x3dh-server']);
    assert.deepEqual(allowed(rabbit, 'mqtts', 8883), ['wireguard', 'x3dh-server']);
    assert.deepEqual(allowed({ 'cnpg.io/cluster': 'x3dh-db' }, 5432), ['namespace cnpg-system', 'x3dh-db', 'x3dh-server']);
    const gateway = policyFor({ 'app.kubernetes.io/name': 'wireguard' });
    assert.deepEqual(gateway.egress?.flatMap((rule) => [...(rule.to ?? []).map(peerName), ...(rule.ports ?? []).map((entry) => entry.port)]), ['rabbitmq', 8883], 'the gateway sends only to the broker\'s MQTT port');
    const server = policyFor({ 'app.kubernetes.io/name': 'x3dh-server' });
    assert.ok(server.policyTypes.includes('Egress'));
  });

  it('the key server takes CloudNativePG\'s connection string and verifies the database against its CA', () => {
    const server = podTemplates(base).find(({ owner }) => owner.metadata.name === 'x3dh-server')!.pod.containers[0]!;
    const env = new Map((server.env ?? []).map((variable) => [variable.name, variable]));
    assert.deepEqual(env.get('X3DH_DATABASE_URL')?.valueFrom?.secretKeyRef, { name: 'x3dh-db-app', key: 'uri' });
    assert.equal(env.get('X3DH_DATABASE_CA')?.value, '/etc/x3dh/db-ca/ca.crt');
    assert.ok(![...env.keys()].some((name) => /PASSWORD/.test(name)), 'no password spliced by hand');
  });

  it('the database is backed up by scheduled volume snapshots and monitored', async () => {
    const cluster = base.find((object) => object.kind === 'Cluster')!;
    const backup = base.find((object) => object.kind === 'ScheduledBackup')!;
    const spec = backup.spec as { schedule: string; cluster: { name: string }; method: string };
    assert.equal(spec.cluster.name, cluster.metadata.name);
    assert.equal(spec.method, 'volumeSnapshot');
    assert.equal(spec.schedule.split(' ').length, 6, 'CloudNativePG schedules have a seconds field');
    assert.ok((cluster.spec as { backup?: { volumeSnapshot?: object } }).backup?.volumeSnapshot, 'the Cluster configures volume snapshots');
    const monitors = await readResources(join(K8S, 'components', 'monitoring'));
    const podMonitor = monitors.find((object) => object.kind === 'PodMonitor')!;
    assert.equal((podMonitor.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels['cnpg.io/cluster'], cluster.metadata.name);
  });

  it('monitoring: every ServiceMonitor selects a Service with the port it scrapes', async () => {
    const monitors = (await readResources(join(K8S, 'components', 'monitoring'))).filter((object) => object.kind === 'ServiceMonitor');
    assert.equal(monitors.length, 2);
    for (const monitor of monitors) {
      const spec = monitor.spec as { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string }> };
      const services = base.filter((object) => object.kind === 'Service' && Object.entries(spec.selector.matchLabels).every(([key, value]) => object.metadata.labels?.[key] === value));
      assert.equal(services.length, 1, `ServiceMonitor/${monitor.metadata.name} selects one Service`);
      const ports = (services[0]!.spec as { ports: Array<{ name: string }> }).ports.map((port) => port.name);
      for (const endpoint of spec.endpoints) assert.ok(ports.includes(endpoint.port), `${monitor.metadata.name}: port ${endpoint.port}`);
    }
  });

  it('the original firmware\'s path is off by default and, with the v1-firmware component, opens the v1 topics to clients without a certificate', { skip: hasKustomize ? false : 'kubectl with kustomize v4+ is not installed' }, async () => {
    const dir = await operatorDir();
    const plain = await renderOverlay(dir);
    const server = (objects: K8sObject[]) => podTemplates(objects).find(({ owner }) => owner.metadata.name === 'x3dh-server')!.pod.containers[0]!;
    const rabbit = (objects: K8sObject[]) => podTemplates(objects).find(({ owner }) => owner.metadata.name === 'rabbitmq')!.pod.containers[0]!;
    assert.equal(server(plain).env!.find((variable) => variable.name === 'X3DH_ENABLE_V1'), undefined, 'v1 is off by default');
    assert.ok(!(rabbit(plain).volumeMounts ?? []).some((mount) => mount.name === 'v1-legacy'));

    const { objects, generated } = await renderV1Overlay(dir);
    assert.deepEqual(crossReferenceProblems(objects, cloudNativePgProvides(objects)), []);
    assert.equal(server(objects).env!.find((variable) => variable.name === 'X3DH_ENABLE_V1')?.value, 'true');
    assert.ok((rabbit(objects).volumeMounts ?? []).some((mount) => mount.name === 'v1-legacy' && mount.subPath === 'v1-legacy.conf'));
    const config = await readFile(join(generated, 'rabbitmq-config', 'rabbitmq.conf'), 'utf8');
    assert.match(config, /^ssl_options\.fail_if_no_peer_cert = false$/m, 'TLS with the server certificate only');
    assert.match(config, /^mqtt\.allow_anonymous = true$/m);
    const definitions = JSON.parse(await readFile(join(generated, 'rabbitmq-definitions', 'definitions.json'), 'utf8')) as { topic_permissions: Array<{ user: string; write: string; read: string }> };
    const v1 = definitions.topic_permissions.find((entry) => entry.user === 'x3dh-v1-legacy')!;
    assert.ok(new RegExp(v1.write).test('x3dh.register.ik') && !new RegExp(v1.write).test('x3dh.v2.req.alice.bundle'), 'the v1 user publishes v1 requests only');
    assert.ok(new RegExp(v1.read).test('x3dh.resp.#') && !new RegExp(v1.read).test('x3dh.v2.resp.alice'), 'and reads v1 responses only');
    // A second run changes nothing (the password and its hash are kept): no restart.
    const hashed = (list: K8sObject[]) => list.filter((object) => object.kind === 'Secret' || object.kind === 'ConfigMap').map((object) => object.metadata.name).sort();
    assert.deepEqual(hashed((await renderV1Overlay(dir)).objects), hashed(objects));
  });
});
