import type { Caller } from '../../common/auth/caller';
import type { UnifiedIdPayload } from '../../id-codec/id-codec';
import type { IdCodecService } from '../../id-codec/id-codec.service';
import type { FileRecord } from '../file-record';
import { BatchFileIds } from './batch-file-ids';

const alice: Caller = { userId: 'alice', teamId: null, role: 'user' };

function record(uid: string, owner: string): FileRecord {
  return {
    id: uid,
    owner: { userId: owner, teamId: null },
    purpose: 'user_data',
    filename: `${uid}.pdf`,
    bytes: 1,
    mimeType: 'application/pdf',
    status: 'ready',
    createdAt: 0,
    expiresAt: null,
    copies: [
      { deploymentId: 'east', providerFileId: `${uid}-on-east` },
      { deploymentId: 'west', providerFileId: null },
    ],
  };
}

/** Ids are `file-<uid>`; anything else does not decode (a forged or foreign id). */
const ids = {
  decode: (token: string): UnifiedIdPayload | null =>
    token.startsWith('file-') && !token.includes('forged')
      ? { kind: 'file', uid: token.slice('file-'.length) }
      : null,
} as unknown as IdCodecService;

describe(BatchFileIds.name, () => {
  const records = new Map([
    ['mine', record('mine', 'alice')],
    ['bobs', record('bobs', 'bob')],
  ]);

  function setup(
    load?: (payloads: readonly UnifiedIdPayload[]) => Promise<Map<string, FileRecord>>,
  ) {
    const loads: string[] = [];
    const fileIds = new BatchFileIds(
      alice,
      ids,
      load ??
        ((payloads) => {
          loads.push(...payloads.map((p) => p.uid));
          return Promise.resolve(
            new Map(
              payloads.flatMap((p) => (records.has(p.uid) ? [[p.uid, records.get(p.uid)!]] : [])),
            ),
          );
        }),
    );
    return { fileIds, loads };
  }

  it('should look each wanted id up once, and answer with the provider id of a copy once settled', async () => {
    const { fileIds, loads } = setup();
    expect(fileIds.settled()).toBeNull();
    fileIds.want('file-mine');
    fileIds.want('file-mine');
    expect(fileIds.providerIdFor('east', 'file-mine')).toBeUndefined();
    await fileIds.settled();
    fileIds.want('file-mine');
    expect(loads).toEqual(['mine']);
    expect(fileIds.settled()).toBeNull();
    expect(fileIds.providerIdFor('east', 'file-mine')).toBe('mine-on-east');
    // A copy still being made, or no copy on that deployment: nothing to write there.
    expect(fileIds.providerIdFor('west', 'file-mine')).toBeUndefined();
    expect(fileIds.providerIdFor('north', 'file-mine')).toBeUndefined();
  });

  it("should resolve someone else's file, a forged id and an unknown one to nothing", async () => {
    const { fileIds, loads } = setup();
    for (const id of ['file-bobs', 'file-forged', 'file-gone']) fileIds.want(id);
    await fileIds.settled();
    expect(loads).toEqual(['bobs', 'gone']);
    for (const id of ['file-bobs', 'file-forged', 'file-gone']) {
      expect(fileIds.providerIdFor('east', id)).toBeUndefined();
    }
  });

  it('should fail every wait from a failed lookup on', async () => {
    const { fileIds } = setup(() => Promise.reject(new Error('database unavailable')));
    fileIds.want('file-mine');
    await expect(fileIds.settled()).rejects.toThrow('database unavailable');
    await expect(fileIds.settled()).rejects.toThrow('database unavailable');
  });
});
