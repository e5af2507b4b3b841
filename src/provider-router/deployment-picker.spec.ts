import type { Deployment } from '../config/deployment';
import { DeploymentPicker } from './deployment-picker';
import { ABORTED, ProviderError } from './provider-client';
import { fakeDeployment, seeded } from './router.fixture';

const COOLDOWN_MS = 30_000;

/** A picker with a seeded random and a clock the test moves. */
function pickerWith(random: () => number = seeded(42)) {
  const clock = { now: 1_000_000 };
  const picker = new DeploymentPicker({
    cooldownMs: COOLDOWN_MS,
    random,
    now: () => clock.now,
  });
  return { picker, clock };
}

function draws(picker: DeploymentPicker, candidates: readonly Deployment[], n: number) {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const picked = picker.pick(candidates);
    if (!picked) throw new Error('expected a deployment');
    counts.set(picked.id, (counts.get(picked.id) ?? 0) + 1);
  }
  return counts;
}

const serverError = (): ProviderError => new ProviderError('down', 500, 'server_error');

describe(DeploymentPicker.name, () => {
  const a = fakeDeployment('a');
  const b = fakeDeployment('b');
  const c = fakeDeployment('c');

  describe('pick', () => {
    it('should spread draws in proportion to the weights', () => {
      const { picker } = pickerWith();
      const heavy = fakeDeployment('heavy', 3);
      const light = fakeDeployment('light', 1);
      const none = fakeDeployment('none', 0);

      const counts = draws(picker, [heavy, light, none], 20_000);

      expect((counts.get('heavy') ?? 0) / 20_000).toBeCloseTo(0.75, 1);
      expect((counts.get('light') ?? 0) / 20_000).toBeCloseTo(0.25, 1);
      expect(counts.has('none')).toBe(false);
    });

    it('should spread evenly when every weight is 1', () => {
      const { picker } = pickerWith();
      const counts = draws(picker, [a, b, c], 30_000);
      for (const id of ['a', 'b', 'c']) {
        expect((counts.get(id) ?? 0) / 30_000).toBeCloseTo(1 / 3, 1);
      }
    });

    it('should map the random draw onto cumulative weights', () => {
      let next = 0;
      const { picker } = pickerWith(() => next);
      const candidates = [fakeDeployment('one', 1), fakeDeployment('three', 3)];

      const at = (value: number): string | undefined => {
        next = value;
        return picker.pick(candidates)?.id;
      };

      expect(at(0)).toBe('one');
      expect(at(0.2499)).toBe('one');
      expect(at(0.25)).toBe('three');
      expect(at(0.9999999)).toBe('three');
    });

    it('should pick evenly when every weight is zero rather than pick nothing', () => {
      const { picker } = pickerWith();
      const counts = draws(picker, [fakeDeployment('x', 0), fakeDeployment('y', 0)], 2_000);
      expect((counts.get('x') ?? 0) / 2_000).toBeCloseTo(0.5, 1);
      expect((counts.get('y') ?? 0) / 2_000).toBeCloseTo(0.5, 1);
    });

    it('should only pick among the candidates given, minus the excluded ones', () => {
      const { picker } = pickerWith();
      const counts = new Set<string>();
      for (let i = 0; i < 500; i++) {
        counts.add(picker.pick([a, b, c], { exclude: new Set(['b']) })?.id ?? 'none');
      }
      expect([...counts].sort()).toEqual(['a', 'c']);
    });

    it('should return null when no candidate is left', () => {
      const { picker } = pickerWith();
      expect(picker.pick([])).toBeNull();
      expect(picker.pick([a, b], { exclude: new Set(['a', 'b']) })).toBeNull();
    });
  });

  describe('cool-down', () => {
    it('should skip a deployment that failed until its cool-down ran out', () => {
      const { picker, clock } = pickerWith();

      expect(picker.reportFailure(a, serverError())).toBe(true);

      expect(draws(picker, [a, b], 1_000)).toEqual(new Map([['b', 1_000]]));
      clock.now += COOLDOWN_MS - 1;
      expect(picker.isCoolingDown(a)).toBe(true);
      expect(draws(picker, [a, b], 200).has('a')).toBe(false);

      clock.now += 1;
      expect(picker.isCoolingDown(a)).toBe(false);
      expect(draws(picker, [a, b], 200).get('a')).toBeGreaterThan(50);
    });

    it('should still pick among the candidates when all of them are cooling down', () => {
      const { picker } = pickerWith();
      picker.reportFailure(a, serverError());
      picker.reportFailure(b, new ProviderError('slow down', 429, 'rate_limit'));

      const counts = draws(picker, [a, b], 1_000);

      expect(counts.get('a')).toBeGreaterThan(400);
      expect(counts.get('b')).toBeGreaterThan(400);
      // A warm deployment is preferred to any cooling one.
      expect(draws(picker, [a, b, c], 100)).toEqual(new Map([['c', 100]]));
    });

    it.each([
      ['a 500', serverError()],
      ['a 503', new ProviderError('unavailable', 503, null)],
      ['a 429', new ProviderError('slow down', 429, null)],
      ['no answer', new ProviderError('connection failed', null, 'connection_error')],
      ['a timeout', new ProviderError('timed out', null, 'timeout', true)],
    ])('should cool a deployment down after %s', (_case, error) => {
      const { picker } = pickerWith();
      expect(picker.reportFailure(a, error)).toBe(true);
      expect(picker.isCoolingDown(a)).toBe(true);
    });

    it.each([
      ['a 400', new ProviderError('bad request', 400, null)],
      ['a 404', new ProviderError('no such file', 404, null)],
      ['a caller abort', new ProviderError('aborted', null, ABORTED)],
      ['an error that is not the upstream', new Error('bug')],
    ])('should not cool a deployment down after %s', (_case, error) => {
      const { picker } = pickerWith();
      expect(picker.reportFailure(a, error)).toBe(false);
      expect(picker.isCoolingDown(a)).toBe(false);
    });

    it('should end the cool-down when the deployment answers again', () => {
      const { picker } = pickerWith();
      picker.reportFailure(a, serverError());

      picker.reportSuccess(a);

      expect(picker.isCoolingDown(a)).toBe(false);
    });

    it('should restart the cool-down from the latest failure', () => {
      const { picker, clock } = pickerWith();
      picker.reportFailure(a, serverError());
      clock.now += COOLDOWN_MS / 2;
      picker.reportFailure(a, serverError());

      clock.now += COOLDOWN_MS / 2 + 1;

      expect(picker.isCoolingDown(a)).toBe(true);
    });
  });
});
