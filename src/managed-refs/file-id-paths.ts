import type { RefField } from './ref-field';

/**
 * Where a model-call body names managed files, by endpoint, in RefField path syntax. One list for
 * the two places that look for them: the routes' `UsesManagedRefs` declarations, which resolve
 * the ids of a live call, and the batch line rewriter (files/upload/batch-jsonl.ts), which
 * rewrites the same ids in the lines of a batch input file. The rewriter has its own scanner for
 * speed (it runs on every line of the file); a test feeds it every path listed here.
 */
export const FILE_ID_PATHS = Object.freeze({
  chatCompletions: Object.freeze(['messages[*].content[*].file.file_id'] as const),
  responses: Object.freeze(['input[*].file_id', 'input[*].content[*].file_id'] as const),
});

/** The body fields of `paths`, as managed file references (for `UsesManagedRefs`). */
export function fileIdRefs(paths: readonly string[]): RefField[] {
  return paths.map((path) => ({ in: 'body', path, kind: 'file' }));
}
