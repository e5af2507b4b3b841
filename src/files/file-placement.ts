import { InvalidRequestError } from '../common/errors/api-error';
import type { Deployment } from '../config/deployment';
import type { ResolvedRef } from '../managed-refs/resolved-refs';
import type { FileRecord } from './file-record';

/*
 * Where a call that names managed files may run: the one rule chat completions, Responses,
 * batches and fine-tuning jobs share. A deployment qualifies when it holds a copy of every file
 * the call names; the call then carries that deployment's own id for each.
 */

/**
 * The deployments among `deployments` that hold a copy of every file in `files` (references
 * resolved by ManagedRefsGuard), in their order.
 *
 * @param model the public model the call asked for, named in the error; null when the caller
 *   named none and `deployments` is every configured deployment.
 * @param modelOf the public model of a configured deployment id (undefined when no longer configured).
 * @throws InvalidRequestError (400 `file_not_on_model`) naming the first file no candidate
 *   holds, the model, and the models the file was uploaded for.
 */
export function deploymentsHoldingEvery(
  files: readonly ResolvedRef[],
  deployments: readonly Deployment[],
  model: string | null,
  modelOf: (deploymentId: string) => string | undefined,
): Deployment[] {
  let candidates = [...deployments];
  const seen = new Set<string>();
  for (const ref of files) {
    const file = ref.record as FileRecord | undefined;
    if (!file || seen.has(file.id)) continue;
    seen.add(file.id);
    const held = new Set(file.copies.filter((c) => c.providerFileId).map((c) => c.deploymentId));
    const next = candidates.filter((d) => held.has(d.id));
    if (next.length === 0) {
      const uploadedFor = [...new Set([...held].flatMap((id) => modelOf(id) ?? []))];
      throw new InvalidRequestError(
        `The file '${ref.id}' has no copy on any deployment ${model === null ? 'still configured' : `of model '${model}'`}` +
          (candidates.length < deployments.length ? ' that also holds the other files' : '') +
          `; it was uploaded for: ${uploadedFor.join(', ') || 'no model still configured'}.` +
          (model === null ? '' : ` Upload it with target_model_names including '${model}'.`),
        { param: ref.location.where, code: 'file_not_on_model' },
      );
    }
    candidates = next;
  }
  return candidates;
}

/** The provider's id of a file's copy on `deployment` (which deploymentsHoldingEvery admitted). */
export function providerFileIdOn(record: FileRecord, deployment: Deployment): string {
  const copy = record.copies.find((c) => c.deploymentId === deployment.id);
  if (!copy?.providerFileId) {
    throw new Error(`file ${record.id} has no copy on ${deployment.id}`);
  }
  return copy.providerFileId;
}
