// What `outrider inject` and `outrider webhook` add to a pod, and their defaults. The same
// options drive both commands, so a pod injected by the webhook equals one injected by hand.
import pkg from '../../package.json' with { type: 'json' };

export const OUTRIDER_VERSION: string = pkg.version;

export interface SidecarResources {
  readonly requests: Readonly<Record<string, string>>;
  readonly limits: Readonly<Record<string, string>>;
}

export interface InjectOptions {
  readonly image: string;
  /** The ConfigMap holding outrider.yaml; undefined: `<workload-name>-outrider`. */
  readonly configMap: string | undefined;
  readonly dataPort: number;
  readonly adminPort: number;
  /** Kubernetes >= 1.29: an init container with `restartPolicy: Always` (KEP-753). */
  readonly nativeSidecar: boolean;
  /** The policy's `limits.drainTimeout`, in seconds: sizes terminationGracePeriodSeconds. */
  readonly drainTimeoutSeconds: number;
  /** Regular-container mode only: how long the sidecar keeps serving before its SIGTERM. */
  readonly preStopSleepSeconds: number;
  readonly resources: SidecarResources;
}

export const DEFAULT_OPTIONS: InjectOptions = Object.freeze({
  image: `ghcr.io/outrider/outrider:${OUTRIDER_VERSION}`,
  configMap: undefined,
  dataPort: 8080,
  adminPort: 9901,
  nativeSidecar: true,
  drainTimeoutSeconds: 20,
  preStopSleepSeconds: 5,
  // No CPU limit by default: CFS throttling of a proxy shows up as tail latency on every
  // request it carries. The memory limit bounds what the sidecar's runtimes can take.
  resources: Object.freeze({
    requests: Object.freeze({ cpu: '250m', memory: '256Mi' }),
    limits: Object.freeze({ memory: '1Gi' }),
  }),
});

// Kubernetes resource.Quantity, the forms people write (no exponent notation).
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
// RFC 1123 subdomain, which is what a ConfigMap name must be.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isQuantity(s: string): boolean {
  return QUANTITY.test(s);
}

export function isConfigMapName(s: string): boolean {
  return s.length <= 253 && DNS_SUBDOMAIN.test(s);
}

/** Every reason the options cannot produce a valid pod; empty when they can. */
export function checkOptions(o: InjectOptions): string[] {
  const errors: string[] = [];
  if (o.image.trim() === '' || /\s/.test(o.image)) errors.push(`--image: expected an image reference, got ${JSON.stringify(o.image)}`);
  if (o.configMap !== undefined && !isConfigMapName(o.configMap)) {
    errors.push(`--config-map: ${JSON.stringify(o.configMap)} is not a valid ConfigMap name (lowercase letters, digits, "-" and ".", at most 253 characters)`);
  }
  for (const [flag, port] of [['--data-port', o.dataPort], ['--admin-port', o.adminPort]] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) errors.push(`${flag}: expected a port from 1 to 65535, got ${port}`);
  }
  if (o.dataPort === o.adminPort) errors.push(`--data-port and --admin-port must differ (SPEC §5: admin endpoints never share the data port), both are ${o.dataPort}`);
  for (const [flag, s] of [['--drain-timeout', o.drainTimeoutSeconds], ['--prestop-sleep', o.preStopSleepSeconds]] as const) {
    if (!Number.isFinite(s) || s < 0) errors.push(`${flag}: expected a duration of zero or more, got ${s}`);
  }
  for (const kind of ['requests', 'limits'] as const) {
    for (const [name, q] of Object.entries(o.resources[kind])) {
      if (!isQuantity(q)) errors.push(`resources.${kind}.${name}: ${JSON.stringify(q)} is not a Kubernetes quantity such as "250m", "1" or "256Mi"`);
    }
  }
  return errors;
}
