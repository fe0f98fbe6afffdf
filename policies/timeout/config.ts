// The timeout policy's part of a route's config (SPEC §2 `timeout`, `attemptTimeout`), in ms.
export interface TimeoutConfig {
  readonly timeout: number;
}
