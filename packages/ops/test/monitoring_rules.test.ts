import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { readYamlObjects } from './manifest_checks.js';

/**
 * The alerts and the dashboard shipped in deploy/k8s/components/monitoring: Prometheus's own
 * checker and rule unit tests (`promtool`, Debian's `prometheus` package), and checks of our own
 * that every metric they use is one the key server exports (packages/server/src/ops/metrics.ts) or
 * a recording rule defined here.
 */
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const MONITORING = join(REPO, 'deploy', 'k8s', 'components', 'monitoring');
const METRICS_SOURCE = join(REPO, 'packages', 'server', 'src', 'ops', 'metrics.ts');
const hasPromtool = spawnSync('sh', ['-c', 'command -v promtool']).status === 0;

interface Rule { record?: string; alert?: string; expr: string; for?: string; labels?: Record<string, string> }
interface Group { name: string; rules: Rule[] }

async function ruleGroups(): Promise<Group[]> {
  const [rule] = await readYamlObjects(join(MONITORING, 'prometheus-rules.yaml'));
  assert.equal(rule!.kind, 'PrometheusRule');
  return (rule!.spec as { groups: Group[] }).groups;
}

/** The rules as a plain Prometheus rule file (the PrometheusRule's spec is one). */
async function rulesFile(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'x3dh-rules-'));
  const file = join(dir, 'x3dh.rules.yaml');
  await writeFile(file, stringify({ groups: await ruleGroups() }));
  return file;
}

function promtool(args: string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('promtool', args, { cwd, timeout: 60_000 }, (error, stdout, stderr) => (error ? reject(new Error(`promtool ${args.join(' ')}:\n${stdout}${stderr}`)) : resolve(stdout))));
}

/** The metric names the key server registers (histograms also as _bucket, _sum and _count). */
async function exportedMetrics(): Promise<Set<string>> {
  const source = await readFile(METRICS_SOURCE, 'utf8');
  const names = [...source.matchAll(/new (Counter|Gauge|Histogram)\(\{\s*name: '([a-z0-9_:]+)'/g)].flatMap(([, type, name]) =>
    type === 'Histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!]);
  assert.ok(names.length >= 4, 'metric names found in metrics.ts');
  return new Set(names);
}

/** The x3dh_ and x3dh: series an expression reads. */
const seriesOf = (expr: string) => [...expr.matchAll(/\b(x3dh[_:][a-z0-9_:]+)/g)].map((match) => match[1]!);

describe('monitoring: alerts and dashboard', () => {
  it('promtool accepts the rules', { skip: hasPromtool ? false : 'promtool (Debian package prometheus) is not installed' }, async () => {
    assert.match(await promtool(['check', 'rules', await rulesFile()]), /SUCCESS/);
  });

  it('the alerts fire when they should and stay quiet otherwise (promtool test rules)', { skip: hasPromtool ? false : 'promtool (Debian package prometheus) is not installed' }, async () => {
    const rules = await rulesFile();
    const server = 'namespace="x3dh", service="x3dh-server"';
    const tests = {
      rule_files: [rules],
      evaluation_interval: '1m',
      tests: [
        {
          // Two replicas report the same stock; it falls below the threshold after 20 minutes.
          interval: '1m',
          input_series: [
            { series: `x3dh_one_time_prekeys{${server}, pod="a"}`, values: '5000x20 500x40' },
            { series: `x3dh_one_time_prekeys{${server}, pod="b"}`, values: '5000x20 500x40' },
            { series: `up{${server}, pod="a"}`, values: '1x60' },
          ],
          alert_rule_test: [
            { eval_time: '15m', alertname: 'X3dhPrekeyStockLow', exp_alerts: [] },
            { eval_time: '40m', alertname: 'X3dhPrekeyStockLow', exp_alerts: [{ exp_labels: { severity: 'warning' }, exp_annotations: { summary: 'One-time prekeys in stock over the fleet: 500', description: 'Devices replenish their one-time prekeys when they connect; a low stock means offline or failing devices, and first messages to them fall back to no one-time prekey.' } }] },
            { eval_time: '40m', alertname: 'X3dhServerMetricsAbsent', exp_alerts: [] },
          ],
        },
        {
          // 10 requests/s, of which 1/s failed from minute 10 on: 10 % errors.
          interval: '1m',
          input_series: [
            { series: `x3dh_requests_total{${server}, operation="bundle.fetch", outcome="ok"}`, values: '0+600x40' },
            { series: `x3dh_requests_total{${server}, operation="bundle.fetch", outcome="refused"}`, values: '0+60x40' },
            { series: `x3dh_requests_total{${server}, operation="bundle.fetch", outcome="failed"}`, values: '0x10 0+60x30' },
          ],
          alert_rule_test: [
            { eval_time: '9m', alertname: 'X3dhRequestErrors', exp_alerts: [] },
            { eval_time: '35m', alertname: 'X3dhRequestErrors', exp_alerts: [{ exp_labels: { severity: 'critical' }, exp_annotations: { summary: '8.333% of requests failed or found the store unavailable', description: 'Outcomes failed/unavailable: the database or the broker is failing the key server. Refused, invalid, replayed and limited requests are the devices\' doing and do not count.' } }] },
          ],
        },
        {
          interval: '1m',
          input_series: [
            { series: 'kube_deployment_status_replicas_ready{namespace="x3dh", deployment="x3dh-server"}', values: '2x5 0x10' },
            { series: 'rabbitmq_detailed_queue_messages_ready{vhost="x3dh", queue="x3dh-server.requests"}', values: '10x5 5000x10' },
          ],
          alert_rule_test: [
            { eval_time: '5m', alertname: 'X3dhServerNoReadyReplica', exp_alerts: [] },
            { eval_time: '10m', alertname: 'X3dhServerNoReadyReplica', exp_alerts: [{ exp_labels: { severity: 'critical', namespace: 'x3dh', deployment: 'x3dh-server' }, exp_annotations: { summary: 'No key server replica is ready: devices get no answers' } }] },
            { eval_time: '12m', alertname: 'X3dhRequestQueueBacklog', exp_alerts: [{ exp_labels: { severity: 'warning' }, exp_annotations: { summary: '5000 requests wait in the key server\'s queue', description: 'The replicas do not keep up, or none consumes: check X3dhServerNoReadyReplica and the replicas\' logs, or add replicas.' } }] },
            { eval_time: '12m', alertname: 'X3dhServerMetricsAbsent', exp_alerts: [{ exp_labels: { severity: 'critical' }, exp_annotations: { summary: 'No key server replica is being scraped' } }] },
          ],
        },
      ],
    };
    const file = join(await mkdtemp(join(tmpdir(), 'x3dh-rule-tests-')), 'tests.yaml');
    await writeFile(file, stringify(tests));
    assert.match(await promtool(['test', 'rules', file]), /SUCCESS/);
  });

  it('rules use only metrics the key server exports, recording rules defined here, or the broker\'s and kube-state-metrics\'', async () => {
    const groups = await ruleGroups();
    const exported = await exportedMetrics();
    const recorded = new Set(groups.flatMap((group) => group.rules.map((rule) => rule.record).filter((name): name is string => name !== undefined)));
    const unknown = groups.flatMap((group) => group.rules.flatMap((rule) => seriesOf(rule.expr))).filter((name) => !exported.has(name) && !recorded.has(name));
    assert.deepEqual(unknown, []);
    const alerts = groups.flatMap((group) => group.rules.filter((rule) => rule.alert));
    for (const expected of ['X3dhPrekeyStockLow', 'X3dhRequestErrors', 'X3dhRequestLatencyHigh', 'X3dhServerNoReadyReplica', 'X3dhRequestQueueBacklog']) {
      assert.ok(alerts.some((rule) => rule.alert === expected), expected);
    }
    for (const rule of alerts) assert.ok(rule.labels?.severity, `${rule.alert} has a severity`);
  });

  it('the Grafana dashboard is well formed and queries only known series', async () => {
    const dashboard = JSON.parse(await readFile(join(MONITORING, 'dashboards', 'x3dh-key-server.json'), 'utf8')) as {
      uid: string; title: string; schemaVersion: number;
      panels: Array<{ id: number; title: string; type: string; gridPos: { x: number; y: number; w: number; h: number }; targets: Array<{ refId: string; expr: string }> }>;
      templating: { list: Array<{ name: string; type: string }> };
    };
    assert.match(dashboard.uid, /^[a-z0-9-]{1,40}$/);
    assert.ok(dashboard.title && dashboard.schemaVersion > 30);
    assert.ok(dashboard.templating.list.some((variable) => variable.name === 'datasource' && variable.type === 'datasource'));
    const ids = dashboard.panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const exported = await exportedMetrics();
    const recorded = new Set((await ruleGroups()).flatMap((group) => group.rules.map((rule) => rule.record).filter((name): name is string => name !== undefined)));
    for (const panel of dashboard.panels) {
      assert.ok(['timeseries', 'stat', 'gauge', 'table'].includes(panel.type), `${panel.title}: panel type`);
      const { x, w } = panel.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24, `${panel.title}: fits the 24-column grid`);
      assert.ok(panel.targets.length > 0, `${panel.title}: has a query`);
      for (const target of panel.targets) {
        for (const name of seriesOf(target.expr)) assert.ok(exported.has(name) || recorded.has(name), `${panel.title}: ${name} is neither exported nor recorded`);
      }
    }
    // Overlapping panels would hide each other.
    for (const a of dashboard.panels) {
      for (const b of dashboard.panels) {
        if (a.id >= b.id) continue;
        const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w && a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h;
        assert.ok(!overlap, `${a.title} and ${b.title} overlap`);
      }
    }
  });
});
