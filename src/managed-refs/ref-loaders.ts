import { Injectable } from '@nestjs/common';
import type { IdKind } from '../id-codec/id-codec';
import type { RefLoader } from './ref-loader';

/** The loader of each managed kind, registered by the module that owns the kind. */
@Injectable()
export class RefLoaders {
  private readonly loaders = new Map<IdKind, RefLoader>();

  register(loader: RefLoader): void {
    if (this.loaders.has(loader.kind)) {
      throw new Error(`a loader for '${loader.kind}' is already registered`);
    }
    this.loaders.set(loader.kind, loader);
  }

  for(kind: IdKind): RefLoader {
    const loader = this.loaders.get(kind);
    if (!loader) throw new Error(`no loader registered for '${kind}' ids`);
    return loader;
  }
}
