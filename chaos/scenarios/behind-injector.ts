// The setup most upstream-fault scenarios share: a model server behind the fault injector, and
// Outrider with one upstream `model` that reaches it through the injector.
import { startModelServer } from '../fixtures/model-server.ts';
import { startInjector } from '../injector/client.ts';
import type { Injector } from '../injector/client.ts';
import { header, launch } from '../outrider.ts';
import type { Running } from '../outrider.ts';
import type { ScenarioRun } from '../scenario.ts';

/** `routes` is the YAML of the routes list (items indented by two spaces), sending to `model`. */
export async function behindInjector(r: ScenarioRun, routes: string): Promise<{ o: Running; inj: Injector }> {
  const up = await startModelServer({ inferMs: 2 });
  r.defer(() => up.stop());
  const inj = await startInjector(up.origin);
  r.defer(() => inj.stop());
  const o = await launch(r, `${header()}
upstreams:
  - { name: model, endpoints: [${inj.origin}] }
routes:
${routes}`);
  return { o, inj };
}
