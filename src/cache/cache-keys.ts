/**
 * Every cache key is built here. Keys hold the internal id only: ownership is checked on the
 * cached record itself (the record carries its owner), so one entry serves the owner, the
 * owner's team and admins alike, and a 403 can be told apart from a 404.
 */
export const CacheKeys = {
  // v2: records carry `owner`; entries of the older shape are never read.
  managedFile: (fileId: string): string => `mfg:file:v2:${fileId}`,
} as const;
