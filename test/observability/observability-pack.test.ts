// The observability pack's consistency: every metric the dashboard and the alert rules name is a
// SPEC §6 metric or one Outrider defines (with its help text on /metrics); the dashboard covers
// every SPEC §6 metric, is well formed for Grafana, and its panels use the datasource variable;
// the Kubernetes scrape job reads the annotations `outrider inject` writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_OPTIONS } from '../../proxy/inject/options.ts';
import { scrapeAnnotations } from '../../proxy/inject/sidecar.ts';
import { ROOT } from '../helpers/outrider.ts';
import { alertExpressions, dashboard, dashboardExpressions } from './expressions.ts';

// SPEC §6, the stable names.
const SPEC_METRICS = [
  'outrider_requests_total', 'outrider_request_duration_seconds', 'outrider_upstream_duration_seconds',
  'outrider_cache_requests_total', 'outrider_cache_bytes', 'outrider_breaker_state', 'outrider_retries_total',
  'outrider_shed_total', 'outrider_fallback_total', 'outrider_shadow_requests_total', 'outrider_shadow_divergence',
  'outrider_canary_rollbacks_total', 'outrider_runtime_ready', 'outrider_runtime_restarts_total',
  'outrider_runtime_warmup_seconds', 'outrider_batch_size', 'outrider_queue_wait_seconds', 'outrider_queue_depth',
  'outrider_inference_duration_seconds',
];

/** Metric names Outrider's own code registers (prom-client `name: 'outrider_...'`, each with its help text). */
async function definedMetrics(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const dir of ['proxy', 'runtime', 'policies']) {
    const files = await readdir(path.join(ROOT, dir), { recursive: true });
    for (const f of files.filter((x) => x.endsWith('.ts'))) {
      const src = await readFile(path.join(ROOT, dir, f), 'utf8');
      for (const m of src.matchAll(/name: '(outrider_[a-z_]+)'/g)) names.add(m[1]!);
    }
  }
  return names;
}

/** The metric a series name belongs to: a histogram's _bucket/_sum/_count series name the histogram. */
function metricOf(series: string, known: ReadonlySet<string>): string {
  const base = series.replace(/_(bucket|sum|count)$/, '');
  return known.has(series) ? series : base;
}

test('every metric the dashboard and alerts use is a SPEC §6 metric or one Outrider defines', async () => {
  const known = new Set([...SPEC_METRICS, ...await definedMetrics()]);
  const exprs = [...await dashboardExpressions(), ...await alertExpressions()];
  const d = await dashboard();
  for (const v of d.templating.list) if (typeof v.query === 'object' && v.query !== null) exprs.push({ where: `variable ${v.name}`, expr: (v.query as { query: string }).query });
  assert.ok(exprs.length > 40);
  for (const { where, expr } of exprs) {
    for (const [series] of expr.matchAll(/outrider_[a-z_]+/g)) {
      assert.ok(known.has(metricOf(series, known)), `${where}: ${series} is neither in SPEC §6 nor defined by Outrider`);
    }
  }
  const dashboardUsed = new Set((await dashboardExpressions()).flatMap(({ expr }) => [...expr.matchAll(/outrider_[a-z_]+/g)].map(([s]) => metricOf(s, known))));
  assert.deepEqual(SPEC_METRICS.filter((m) => !dashboardUsed.has(m)), [], 'the dashboard shows every SPEC §6 metric');
});

test('the dashboard is well formed: unique ids, datasource variable everywhere, panels on the grid without overlap', async () => {
  const d = await dashboard();
  assert.equal(d.uid, 'outrider-overview');
  const ds = d.templating.list.find((v) => v.name === 'datasource');
  assert.deepEqual([ds?.type, ds?.query], ['datasource', 'prometheus']);
  const ids = d.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const cells = new Set<string>();
  for (const p of d.panels) {
    const { x, y, w, h } = p.gridPos;
    assert.ok(x >= 0 && w > 0 && x + w <= 24 && h > 0, `panel ${p.id} "${p.title}" fits the 24-column grid`);
    for (let i = x; i < x + w; i++) for (let j = y; j < y + h; j++) {
      assert.ok(!cells.has(`${i},${j}`), `panel ${p.id} "${p.title}" overlaps another at ${i},${j}`);
      cells.add(`${i},${j}`);
    }
    if (p.type === 'row') continue;
    assert.equal(p.datasource?.uid, '${datasource}', `panel ${p.id} uses the datasource variable`);
    assert.ok((p.targets ?? []).length > 0, `panel ${p.id} has a query`);
    for (const t of p.targets ?? []) assert.equal(t.datasource?.uid, '${datasource}');
  }
  for (const v of d.templating.list.filter((x) => x.type === 'query')) assert.equal(v.datasource?.uid, '${datasource}');
});

test('alert rules: each has a severity, a summary and a description', async () => {
  const file = parse(await readFile(path.join(ROOT, 'examples', 'prometheus', 'alerts.yaml'), 'utf8')) as { groups: { rules: { alert: string; labels?: Record<string, string>; annotations?: Record<string, string> }[] }[] };
  const rules = file.groups.flatMap((g) => g.rules);
  assert.deepEqual(rules.map((r) => r.alert).sort(), [
    'OutriderBreakerOpen', 'OutriderCanaryRolledBack', 'OutriderHighErrorRate', 'OutriderHighLatencyP99', 'OutriderRuntimeNotReady',
    'OutriderRuntimeReplicaNotReady', 'OutriderRuntimeRestarting', 'OutriderServingFallbacks', 'OutriderShedding',
  ]);
  for (const r of rules) {
    assert.match(r.labels?.['severity'] ?? '', /^(critical|warning)$/, r.alert);
    assert.ok(r.annotations?.['summary'] && r.annotations['description'], r.alert);
  }
});

test('the Kubernetes scrape job reads the annotations `outrider inject` writes', async () => {
  const job = (parse(await readFile(path.join(ROOT, 'examples', 'prometheus', 'kubernetes-pods.yml'), 'utf8')) as {
    scrape_configs: { job_name: string; relabel_configs: { source_labels?: string[]; action?: string; regex?: string; replacement?: string; target_label?: string }[] }[];
  }).scrape_configs[0]!;
  // Prometheus's pod discovery: prometheus.io/scrape -> __meta_kubernetes_pod_annotation_prometheus_io_scrape.
  const meta = (annotation: string) => `__meta_kubernetes_pod_annotation_${annotation.replace(/[^a-zA-Z0-9_]/g, '_')}`;
  const annotations = scrapeAnnotations(DEFAULT_OPTIONS);
  const rule = (label: string) => job.relabel_configs.find((r) => r.source_labels?.includes(meta(label)));
  assert.equal(rule('prometheus.io/scrape')?.action, 'keep');
  assert.ok(new RegExp(`^(?:${rule('prometheus.io/scrape')!.regex})$`).test(annotations['prometheus.io/scrape']!));
  assert.equal(rule('prometheus.io/path')?.target_label, '__metrics_path__');
  const address = rule('prometheus.io/port')!;
  assert.equal(address.target_label, '__address__');
  // Prometheus joins the source labels with ";" and anchors the regex (RE2; this one is also valid JavaScript).
  const rewritten = `10.0.3.7:8000;${annotations['prometheus.io/port']}`.replace(new RegExp(`^(?:${address.regex})$`), address.replacement!);
  assert.equal(rewritten, '10.0.3.7:9901', 'the pod IP with the admin port');
});
