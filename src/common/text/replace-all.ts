/**
 * `text` with every occurrence of each key of `map` replaced by its value: how provider ids in
 * an answer the gateway passes on (a response, a job's events) become the ids callers know.
 * Ids are long and distinctive, so plain substring replacement cannot hit anything else.
 */
export function replaceAll(text: string, map: ReadonlyMap<string, string>): string {
  let out = text;
  for (const [from, to] of map) out = out.split(from).join(to);
  return out;
}
