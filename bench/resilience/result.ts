// What each scenario reports: its figures, and its bars with pass/fail.
export interface Bar {
  readonly name: string;
  readonly value: string;
  readonly limit: string;
  readonly pass: boolean;
}

export interface ScenarioResult {
  readonly name: string;
  readonly figures: Record<string, number | string>;
  readonly bars: Bar[];
}
