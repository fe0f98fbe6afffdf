// Refuses the keys listed in features.ts, at the key itself.

import type { Gate } from './features.ts';
import type { Report } from './report.ts';
import type { Segment } from './source.ts';

export function checkGates(data: unknown, report: Report, gates: readonly Gate[]): void {
  for (const gate of gates) {
    const steps = gate.path.split(/\.|(?=\[\])/).filter((s) => s !== '');
    visit(data, steps, [], gate, report);
  }
}

function visit(node: unknown, steps: readonly string[], path: Segment[], gate: Gate, report: Report): void {
  const [step, ...rest] = steps;
  if (step === undefined) return;
  if (step === '[]') {
    if (Array.isArray(node)) node.forEach((item, i) => visit(item, rest, [...path, i], gate, report));
    return;
  }
  if (typeof node !== 'object' || node === null || Array.isArray(node) || !Object.hasOwn(node, step)) return;
  const value = (node as Record<string, unknown>)[step];
  if (rest.length > 0) {
    visit(value, rest, [...path, step], gate, report);
  } else if (gate.value === undefined) {
    report.add('gate', [...path, step], `not available in this version of Outrider yet (${gate.arrives}); remove this key`, 'key');
  } else if (value === gate.value) {
    report.add('gate', [...path, step], `\`${gate.value}\` is not available in this version of Outrider yet (${gate.arrives}); remove it or choose another value`);
  }
}
