// Keys the schema knows (so editors complete them and the normaliser reads them) but this
// version of Outrider does not act on yet. A config using one is refused rather than run
// without the protection it asks for. Enabling a feature is deleting its line here.

export interface Gate {
  /** Where the key sits: `[]` stands for any index of a list. */
  readonly path: string;
  /** Only this value is gated; the key itself is accepted with other values. */
  readonly value?: string;
  /** When it comes, for the message. */
  readonly arrives: string;
}

export const GATED: readonly Gate[] = [
];
