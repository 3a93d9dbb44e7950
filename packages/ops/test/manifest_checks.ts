import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** A Kubernetes object as read from YAML; only the fields the checks look at are typed. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  [field: string]: unknown;
}

export function parseYamlObjects(text: string, source: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`${source}: ${document.errors.map((error) => error.message).join('; ')}`);
      return document.toJS() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null);
}

export async function readYamlObjects(path: string): Promise<K8sObject[]> {
  return parseYamlObjects(await readFile(path, 'utf8'), path);
}

export interface Kustomization {
  namespace?: string;
  resources?: string[];
  patches?: Array<{ path: string }>;
  secretGenerator?: Array<{ name: string; files: string[] }>;
  configMapGenerator?: Array<{ name: string; files: string[] }>;
}

export async function readKustomization(dir: string): Promise<Kustomization> {
  const [object] = parseYamlObjects(await readFile(join(dir, 'kustomization.yaml'), 'utf8'), dir);
  return object as unknown as Kustomization;
}

/** The objects of a kustomization's own resource files (no nested kustomizations). */
export async function readResources(dir: string): Promise<K8sObject[]> {
  const kustomization = await readKustomization(dir);
  const objects = await Promise.all((kustomization.resources ?? []).map((resource) => readYamlObjects(join(dir, resource))));
  return objects.flat().map((object) => ({ ...object, metadata: { ...object.metadata, namespace: object.metadata.namespace ?? kustomization.namespace } }));
}

/**
 * Validates a built-in kind against the Kubernetes OpenAPI schema shipped in `kubernetes-models`
 * (types, required fields, enums). Returns null for kinds it has no schema for.
 */
export async function validateBuiltIn(object: K8sObject): Promise<string | null | 'unknown-kind'> {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  const module = group ? `kubernetes-models/${group}/${version}/${object.kind}` : `kubernetes-models/${version}/${object.kind}`;
  let Model: new (data: unknown) => { validate(): void };
  try {
    Model = (await import(module))[object.kind];
  } catch {
    return 'unknown-kind';
  }
  try {
    new Model(object).validate();
    return null;
  } catch (error) {
    return `${object.kind}/${object.metadata.name}: ${(error as Error).message}`;
  }
}

type Pod = {
  serviceAccountName?: string;
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
};
type Container = {
  name: string;
  image?: string;
  securityContext?: { readOnlyRootFilesystem?: boolean };
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: KeyRef; configMapKeyRef?: KeyRef } }>;
  envFrom?: Array<{ secretRef?: { name: string }; configMapRef?: { name: string } }>;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  volumeMounts?: Array<{ name: string; subPath?: string }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
};
type Probe = { httpGet?: { port: number | string }; tcpSocket?: { port: number | string }; exec?: { command: string[] } };
type KeyRef = { name: string; key: string; optional?: boolean };
type Volume = {
  name: string;
  secret?: { secretName: string; items?: Array<{ key: string }> };
  configMap?: { name: string; items?: Array<{ key: string }> };
  projected?: { sources: Array<{ secret?: { name: string; items?: Array<{ key: string }> }; configMap?: { name: string; items?: Array<{ key: string }> } }> };
};

export function podTemplates(objects: K8sObject[]): Array<{ owner: K8sObject; labels: Record<string, string>; pod: Pod }> {
  return objects
    .filter((object) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(object.kind))
    .map((owner) => {
      const template = (owner.spec as { template: { metadata?: { labels?: Record<string, string> }; spec: Pod } }).template;
      return { owner, labels: template.metadata?.labels ?? {}, pod: template.spec };
    });
}

/** Objects that an operator creates at run time and manifests may refer to. */
export interface ProvidedObjects {
  /** Secret name -> its keys (undefined: keys unknown). */
  secrets: Map<string, string[] | undefined>;
  configMaps: Map<string, string[] | undefined>;
  services: Set<string>;
}

/** What the CloudNativePG operator creates for each `Cluster` (documented names and keys). */
export function cloudNativePgProvides(objects: K8sObject[]): ProvidedObjects {
  const provided: ProvidedObjects = { secrets: new Map(), configMaps: new Map(), services: new Set() };
  for (const cluster of objects.filter((object) => object.kind === 'Cluster' && object.apiVersion.startsWith('postgresql.cnpg.io/'))) {
    const name = cluster.metadata.name;
    provided.secrets.set(`${name}-app`, ['username', 'password', 'host', 'port', 'dbname', 'uri', 'jdbc-uri', 'pgpass']);
    provided.secrets.set(`${name}-ca`, ['ca.crt', 'ca.key']);
    for (const suffix of ['rw', 'ro', 'r']) provided.services.add(`${name}-${suffix}`);
  }
  return provided;
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/**
 * Every reference between objects resolves: Secrets and ConfigMaps (and their keys, where known)
 * used by pods, ServiceAccounts, volume mounts, named probe ports, Service selectors and target
 * ports, StatefulSet governing Services, PodDisruptionBudget selectors, RoleBinding subjects and roles,
 * and `scheme://service:port` URLs in environment values. Returns one line per broken reference.
 */
export function crossReferenceProblems(objects: K8sObject[], provided: ProvidedObjects): string[] {
  const problems: string[] = [];
  const named = (kind: string) => new Map(objects.filter((object) => object.kind === kind).map((object) => [object.metadata.name, object]));
  const keysOf = (object: K8sObject) => Object.keys({ ...(object.data as object | undefined), ...(object.stringData as object | undefined), ...(object.binaryData as object | undefined) });
  const secrets = new Map<string, string[] | undefined>([...provided.secrets, ...[...named('Secret')].map(([name, object]) => [name, keysOf(object)] as const)]);
  const configMaps = new Map<string, string[] | undefined>([...provided.configMaps, ...[...named('ConfigMap')].map(([name, object]) => [name, keysOf(object)] as const)]);
  const services = named('Service');
  const serviceAccounts = named('ServiceAccount');
  const templates = podTemplates(objects);

  const checkKey = (where: string, kind: 'Secret' | 'ConfigMap', name: string, key?: string) => {
    const store = kind === 'Secret' ? secrets : configMaps;
    if (!store.has(name)) problems.push(`${where}: ${kind} ${name} does not exist`);
    else if (key !== undefined && store.get(name) && !store.get(name)!.includes(key)) problems.push(`${where}: ${kind} ${name} has no key ${key}`);
  };

  for (const { owner, pod } of templates) {
    const where = `${owner.kind}/${owner.metadata.name}`;
    if (pod.serviceAccountName && !serviceAccounts.has(pod.serviceAccountName)) problems.push(`${where}: ServiceAccount ${pod.serviceAccountName} does not exist`);
    const volumes = new Set((pod.volumes ?? []).map((volume) => volume.name));
    for (const volume of pod.volumes ?? []) {
      if (volume.secret) {
        checkKey(where, 'Secret', volume.secret.secretName);
        for (const item of volume.secret.items ?? []) checkKey(where, 'Secret', volume.secret.secretName, item.key);
      }
      if (volume.configMap) {
        checkKey(where, 'ConfigMap', volume.configMap.name);
        for (const item of volume.configMap.items ?? []) checkKey(where, 'ConfigMap', volume.configMap.name, item.key);
      }
      for (const source of volume.projected?.sources ?? []) {
        if (source.secret) checkKey(where, 'Secret', source.secret.name);
        if (source.configMap) checkKey(where, 'ConfigMap', source.configMap.name);
      }
    }
    const volumeKeys = new Map<string, { kind: 'Secret' | 'ConfigMap'; name: string }>();
    for (const volume of pod.volumes ?? []) {
      if (volume.configMap) volumeKeys.set(volume.name, { kind: 'ConfigMap', name: volume.configMap.name });
      if (volume.secret) volumeKeys.set(volume.name, { kind: 'Secret', name: volume.secret.secretName });
    }
    for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
      const at = `${where} container ${container.name}`;
      const env = new Set<string>();
      for (const variable of container.env ?? []) {
        if (variable.valueFrom?.secretKeyRef && !variable.valueFrom.secretKeyRef.optional) checkKey(at, 'Secret', variable.valueFrom.secretKeyRef.name, variable.valueFrom.secretKeyRef.key);
        if (variable.valueFrom?.configMapKeyRef && !variable.valueFrom.configMapKeyRef.optional) checkKey(at, 'ConfigMap', variable.valueFrom.configMapKeyRef.name, variable.valueFrom.configMapKeyRef.key);
        for (const [, reference] of (variable.value ?? '').matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
          if (!env.has(reference!)) problems.push(`${at}: env ${variable.name} uses $(${reference}) before it is defined`);
        }
        for (const [, host, port] of (variable.value ?? '').matchAll(/^[a-z]+:\/\/(?:[^@/]*@)?([a-z0-9-]+):(\d+)/g)) {
          const service = services.get(host!) ?? (provided.services.has(host!) ? 'provided' : undefined);
          if (!service) problems.push(`${at}: env ${variable.name} names Service ${host}, which does not exist`);
          else if (service !== 'provided' && !((service.spec as { ports: Array<{ port: number }> }).ports.some((entry) => entry.port === Number(port)))) {
            problems.push(`${at}: env ${variable.name} uses port ${port}, which Service ${host} does not have`);
          }
        }
        env.add(variable.name);
      }
      for (const source of container.envFrom ?? []) {
        if (source.secretRef) checkKey(at, 'Secret', source.secretRef.name);
        if (source.configMapRef) checkKey(at, 'ConfigMap', source.configMapRef.name);
      }
      for (const mount of container.volumeMounts ?? []) {
        if (!volumes.has(mount.name) && !isClaimTemplate(owner, mount.name)) problems.push(`${at}: volume ${mount.name} is not declared`);
        const source = volumeKeys.get(mount.name);
        if (source && mount.subPath) checkKey(at, source.kind, source.name, mount.subPath);
      }
      const portNames = new Set((container.ports ?? []).map((port) => port.name));
      for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
        const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
        if (typeof port === 'string' && !portNames.has(port)) problems.push(`${at}: probe port ${port} is not a container port`);
      }
    }
  }

  for (const [name, service] of services) {
    const spec = service.spec as { selector?: Record<string, string>; ports: Array<{ name?: string; port: number; targetPort?: number | string; protocol?: string }> };
    const backends = templates.filter((template) => selects(spec.selector, template.labels));
    if (backends.length === 0) {
      problems.push(`Service/${name}: selector matches no pod template`);
      continue;
    }
    for (const port of spec.ports) {
      const target = port.targetPort ?? port.port;
      const protocol = port.protocol ?? 'TCP';
      const served = backends.some(({ pod }) =>
        pod.containers.some((container) =>
          (container.ports ?? []).some((entry) => (entry.protocol ?? 'TCP') === protocol && (typeof target === 'string' ? entry.name === target : entry.containerPort === target))));
      if (!served) problems.push(`Service/${name}: port ${port.name ?? port.port} targets ${target}/${protocol}, which no selected container exposes`);
    }
  }

  for (const set of objects.filter((object) => object.kind === 'StatefulSet')) {
    const governing = services.get((set.spec as { serviceName: string }).serviceName);
    if (!governing) problems.push(`StatefulSet/${set.metadata.name}: Service ${(set.spec as { serviceName: string }).serviceName} does not exist`);
    else if ((governing.spec as { clusterIP?: string }).clusterIP !== 'None') problems.push(`StatefulSet/${set.metadata.name}: Service ${governing.metadata.name} is not headless`);
  }

  for (const budget of objects.filter((object) => object.kind === 'PodDisruptionBudget')) {
    const selector = (budget.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels;
    if (!templates.some((template) => selects(selector, template.labels))) problems.push(`PodDisruptionBudget/${budget.metadata.name}: selector matches no workload`);
  }

  for (const binding of objects.filter((object) => object.kind === 'RoleBinding')) {
    const roleRef = binding.roleRef as { kind: string; name: string };
    if (!named(roleRef.kind).has(roleRef.name)) problems.push(`RoleBinding/${binding.metadata.name}: ${roleRef.kind} ${roleRef.name} does not exist`);
    for (const subject of (binding.subjects as Array<{ kind: string; name: string }>) ?? []) {
      if (subject.kind === 'ServiceAccount' && !serviceAccounts.has(subject.name)) problems.push(`RoleBinding/${binding.metadata.name}: ServiceAccount ${subject.name} does not exist`);
    }
  }

  const namespaces = new Set(objects.filter((object) => object.kind !== 'Namespace').map((object) => object.metadata.namespace ?? '(none)'));
  if (namespaces.size > 1) problems.push(`objects are spread over namespaces ${[...namespaces].join(', ')}`);
  return problems;
}

function isClaimTemplate(owner: K8sObject, volume: string): boolean {
  const claims = (owner.spec as { volumeClaimTemplates?: Array<{ metadata: { name: string } }> }).volumeClaimTemplates ?? [];
  return claims.some((claim) => claim.metadata.name === volume);
}

/** Secrets and ConfigMaps an overlay's generators declare, with their keys (the files' names). */
export function generatedObjects(kustomization: Kustomization): ProvidedObjects {
  const keys = (files: string[]) => files.map((file) => file.split('/').at(-1)!);
  return {
    secrets: new Map((kustomization.secretGenerator ?? []).map((generator) => [generator.name, keys(generator.files)])),
    configMaps: new Map((kustomization.configMapGenerator ?? []).map((generator) => [generator.name, keys(generator.files)])),
    services: new Set(),
  };
}

export function mergeProvided(...all: ProvidedObjects[]): ProvidedObjects {
  return {
    secrets: new Map(all.flatMap((provided) => [...provided.secrets])),
    configMaps: new Map(all.flatMap((provided) => [...provided.configMaps])),
    services: new Set(all.flatMap((provided) => [...provided.services])),
  };
}

export const patchPaths = (dir: string, kustomization: Kustomization): string[] => (kustomization.patches ?? []).map((patch) => join(dir, patch.path));
