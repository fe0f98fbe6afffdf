// What outlier ejection tells telemetry (proxy/telemetry/resilience.ts) and the chaos suite.
// `endpoint` is an Endpoint id ("mlp/0", "legacy/http://10.0.0.7:8000"): bounded by the config.

/** An endpoint was taken out of rotation for `ejectForMs`; `times` counts its recent ejections. */
export const OUTLIER_EJECTED = 'outlier.ejected';
export interface OutlierEjectedEvent { readonly backend: string; readonly endpoint: string; readonly ejectForMs: number; readonly times: number }

/** An ejected endpoint is back in rotation (its time ran out, or a reload dropped the detector). */
export const OUTLIER_RETURNED = 'outlier.returned';
export interface OutlierReturnedEvent { readonly backend: string; readonly endpoint: string }
