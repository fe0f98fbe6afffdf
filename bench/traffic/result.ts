// What a scenario reports: its figures, and each bar with its limit and verdict.
export interface Bar {
  readonly name: string;
  readonly value: number;
  readonly limit: string;
  readonly pass: boolean;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly figures: Record<string, unknown>;
  readonly bars: readonly Bar[];
}
