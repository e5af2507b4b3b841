import { closestMatch, editDistance } from './edit-distance';

describe(editDistance.name, () => {
  it('should count insertions, deletions, substitutions and adjacent transpositions as one edit each', () => {
    expect(editDistance('api_base', 'api_base')).toBe(0);
    expect(editDistance('api_bse', 'api_base')).toBe(1);
    expect(editDistance('api_basee', 'api_base')).toBe(1);
    expect(editDistance('api_vase', 'api_base')).toBe(1);
    expect(editDistance('api_bsae', 'api_base')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });
});

describe(closestMatch.name, () => {
  const keys = ['api_base', 'api_key', 'api_version', 'model', 'weight'];

  it('should suggest the closest key when the typo is small for its length', () => {
    expect(closestMatch('api_bse', keys)).toBe('api_base');
    expect(closestMatch('API_KEY', keys)).toBe('api_key');
    expect(closestMatch('api_verison', keys)).toBe('api_version');
    expect(closestMatch('wieght', keys)).toBe('weight');
  });

  it('should suggest nothing when no key is close', () => {
    expect(closestMatch('colour', keys)).toBeUndefined();
    expect(closestMatch('mdl', keys)).toBeUndefined();
    expect(closestMatch('api', keys)).toBeUndefined();
  });
});
