// What export and import refuse: one line naming the file or flag and what was expected. The CLI
// turns both into exit code 2 (a mistake in the call or the input, not a bug).

/** A run that cannot be exported in the asked format (an unsupported model kind or tokenizer). */
export class ExportError extends Error {
  override name = 'ExportError';
}

/** Weights or a tokenizer that do not make a valid run (a missing tensor, a wrong shape, …). */
export class ImportError extends Error {
  override name = 'ImportError';
}
