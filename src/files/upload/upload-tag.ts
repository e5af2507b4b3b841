/**
 * Upstream copies are named `mfg-<upload id>__<original filename>`. If the process dies after an
 * upstream stored a copy but before we learned its id, the sweeper still finds the copy by
 * listing the deployment's files. The original name stays at the end, so extension checks
 * upstream (`.jsonl` for batch) still pass.
 */
export function taggedFilename(uploadId: string, filename: string): string {
  return `${tagOf(uploadId)}${filename}`;
}

export function isCopyOf(upstreamFilename: string, uploadId: string): boolean {
  return upstreamFilename.startsWith(tagOf(uploadId));
}

function tagOf(uploadId: string): string {
  return `mfg-${uploadId}__`;
}
