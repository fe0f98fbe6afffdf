// The Outrider container and volumes added to a pod. Typed with the Kubernetes API's own models
// (type-only: nothing of @kubernetes/client-node is loaded at run time).
import type { V1Container, V1Volume } from '@kubernetes/client-node';
import type { InjectOptions } from './options.ts';

export const SIDECAR_NAME = 'outrider';
export const CONFIG_VOLUME = 'outrider-config';
export const TMP_VOLUME = 'outrider-tmp';
export const CONFIG_DIR = '/etc/outrider';
export const CONFIG_FILE = `${CONFIG_DIR}/outrider.yaml`;
// Port names are IANA_SVC_NAME: at most 15 characters.
export const DATA_PORT_NAME = 'outrider-data';
export const ADMIN_PORT_NAME = 'outrider-admin';

export const ANNOTATION = Object.freeze({
  /** Set on injected pods, with the version: a second pass leaves the pod alone. */
  injected: 'outrider.io/injected',
  /** "true" asks the webhook to inject; "false" makes `inject` and the webhook skip the pod. */
  inject: 'outrider.io/inject',
  /** Overrides the ConfigMap name for this pod. */
  configMap: 'outrider.io/config-map',
});

/** Seconds a terminating sidecar needs: its preStop sleep, its drain, and a margin for exit. */
export function sidecarGraceSeconds(o: InjectOptions): number {
  return Math.ceil((o.nativeSidecar ? 0 : o.preStopSleepSeconds) + o.drainTimeoutSeconds) + 5;
}

export function sidecarContainer(o: InjectOptions): V1Container {
  const probe = (path: string, periodSeconds: number, failureThreshold: number) =>
    ({ httpGet: { path, port: ADMIN_PORT_NAME }, periodSeconds, failureThreshold, timeoutSeconds: 2 });
  const container: V1Container = {
    name: SIDECAR_NAME,
    image: o.image,
    imagePullPolicy: 'IfNotPresent',
    args: ['run', '-c', CONFIG_FILE],
    // The policy reads these as ${OUTRIDER_DATA:-...} / ${OUTRIDER_ADMIN:-...} (SPEC §2):
    // the pod's other containers and the kubelet reach the sidecar on the pod IP.
    env: [
      { name: 'OUTRIDER_DATA', value: `0.0.0.0:${o.dataPort}` },
      { name: 'OUTRIDER_ADMIN', value: `0.0.0.0:${o.adminPort}` },
    ],
    ports: [
      { name: DATA_PORT_NAME, containerPort: o.dataPort, protocol: 'TCP' },
      { name: ADMIN_PORT_NAME, containerPort: o.adminPort, protocol: 'TCP' },
    ],
  };
  if (o.nativeSidecar) {
    // The kubelet starts the app containers once this succeeds: /healthz answers only after
    // both listeners are bound, so the app's first calls find the sidecar listening.
    container.restartPolicy = 'Always';
    container.startupProbe = probe('/healthz', 1, 300);
  }
  container.readinessProbe = probe('/readyz', 2, 3);
  container.livenessProbe = probe('/healthz', 10, 3);
  if (!o.nativeSidecar) {
    // Every container of a pod gets SIGTERM at once. The sleep keeps the sidecar serving while
    // the endpoints controller removes the pod and the app finishes its in-flight calls; then
    // SIGTERM starts Outrider's own drain (SPEC §1). Native sidecars need none of this: the
    // kubelet stops them only after every app container has exited.
    container.lifecycle = { preStop: { exec: { command: ['sleep', String(o.preStopSleepSeconds)] } } };
  }
  container.resources = { requests: { ...o.resources.requests }, limits: { ...o.resources.limits } };
  container.securityContext = {
    runAsNonRoot: true,
    // The image's `node` user (Dockerfile `USER 1000:1000`); numeric so the kubelet can check runAsNonRoot.
    runAsUser: 1000,
    runAsGroup: 1000,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
  container.volumeMounts = [
    { name: CONFIG_VOLUME, mountPath: CONFIG_DIR, readOnly: true },
    // The root filesystem is read-only; runtimes and Node may still want a scratch directory.
    { name: TMP_VOLUME, mountPath: '/tmp' },
  ];
  return container;
}

export function sidecarVolumes(configMap: string): V1Volume[] {
  return [
    { name: CONFIG_VOLUME, configMap: { name: configMap } },
    { name: TMP_VOLUME, emptyDir: { sizeLimit: '64Mi' } },
  ];
}

/** Pod annotations: Prometheus's conventional scrape annotations, and the injection marker. */
export function scrapeAnnotations(o: InjectOptions): Record<string, string> {
  return {
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': String(o.adminPort),
    'prometheus.io/path': '/metrics',
  };
}
