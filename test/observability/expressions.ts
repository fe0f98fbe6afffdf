// The PromQL of examples/grafana/outrider-dashboard.json and examples/prometheus/alerts.yaml,
// with Grafana's variables given values Prometheus accepts.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../helpers/outrider.ts';

export const DASHBOARD = path.join(ROOT, 'examples', 'grafana', 'outrider-dashboard.json');
export const ALERTS = path.join(ROOT, 'examples', 'prometheus', 'alerts.yaml');

export interface Expression { readonly where: string; readonly expr: string }

export interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly datasource?: { type: string; uid: string };
  readonly gridPos: { h: number; w: number; x: number; y: number };
  readonly targets?: { expr: string; refId: string; datasource?: { type: string; uid: string } }[];
}

export interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly panels: readonly Panel[];
  readonly templating: { list: { name: string; type: string; query: unknown; datasource?: { uid: string } }[] };
}

export async function dashboard(): Promise<Dashboard> {
  return JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard;
}

const GRAFANA_VARIABLES: Readonly<Record<string, string>> = {
  $__rate_interval: '1m', $__interval: '15s', $__range: '1h', $route: '.*', $runtime: '.*',
};

export async function dashboardExpressions(): Promise<Expression[]> {
  const d = await dashboard();
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({
    where: `dashboard panel ${p.id} "${p.title}" ${t.refId}`,
    expr: t.expr.replace(/\$__rate_interval|\$__interval|\$__range|\$route|\$runtime/g, (v) => GRAFANA_VARIABLES[v]!),
  })));
}

export async function alertExpressions(): Promise<Expression[]> {
  const file = parse(await readFile(ALERTS, 'utf8')) as { groups: { name: string; rules: { alert: string; expr: string }[] }[] };
  return file.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })));
}
