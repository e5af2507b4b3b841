import { sha256 } from './digest';
import { AuthenticationError } from '../errors/api-error';
import { CredentialResolver } from './credential-resolver';

const KEYS = [
  { keySha256: sha256('sk-alice'), userId: 'alice', teamId: 'research', role: 'user' as const },
  { keySha256: sha256('sk-admin'), userId: 'root', teamId: null, role: 'admin' as const },
];
const TRUSTED = { secretHeader: 'x-gateway-secret', secret: 'shared-secret' };

describe(CredentialResolver.name, () => {
  const resolver = new CredentialResolver(KEYS, TRUSTED);

  it('should resolve a bearer key to its user, team and role', () => {
    expect(resolver.resolve({ authorization: 'Bearer sk-alice' })).toEqual({
      userId: 'alice',
      teamId: 'research',
      role: 'user',
    });
    expect(resolver.resolve({ authorization: 'bearer sk-admin' }).role).toBe('admin');
  });

  it('should refuse a missing, malformed or unknown key with a 401', () => {
    for (const authorization of [
      undefined,
      '',
      'sk-alice',
      'Basic abc',
      'Bearer sk-alicf',
      'Bearer ',
    ]) {
      expect(() => resolver.resolve({ authorization })).toThrow(AuthenticationError);
    }
  });

  it('should accept trusted identity headers only with the shared secret', () => {
    expect(
      resolver.resolve({
        'x-gateway-secret': 'shared-secret',
        'x-user-id': 'dana',
        'x-team-id': 'ml',
        'x-user-role': 'admin',
      }),
    ).toEqual({ userId: 'dana', teamId: 'ml', role: 'admin' });
    // Without the secret the identity headers are ignored: no bearer → 401.
    expect(() => resolver.resolve({ 'x-user-id': 'dana' })).toThrow(AuthenticationError);
    // With a bearer but no secret, the bearer decides, not the headers.
    expect(resolver.resolve({ 'x-user-id': 'dana', authorization: 'Bearer sk-alice' }).userId).toBe(
      'alice',
    );
  });

  it('should refuse a wrong shared secret even when a valid bearer is present', () => {
    expect(() =>
      resolver.resolve({
        'x-gateway-secret': 'guess',
        'x-user-id': 'dana',
        authorization: 'Bearer sk-alice',
      }),
    ).toThrow(AuthenticationError);
  });

  it('should refuse trusted headers without a user id or with an unknown role', () => {
    expect(() => resolver.resolve({ 'x-gateway-secret': 'shared-secret' })).toThrow(
      AuthenticationError,
    );
    expect(() =>
      resolver.resolve({
        'x-gateway-secret': 'shared-secret',
        'x-user-id': 'd',
        'x-user-role': 'root',
      }),
    ).toThrow(AuthenticationError);
  });

  it('should ignore trusted headers entirely when they are not configured', () => {
    const bearerOnly = new CredentialResolver(KEYS, null);
    expect(() =>
      bearerOnly.resolve({ 'x-gateway-secret': 'shared-secret', 'x-user-id': 'dana' }),
    ).toThrow(AuthenticationError);
  });
});
