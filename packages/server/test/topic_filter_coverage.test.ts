import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { filterCovers } from '../src/transport/topic_filter_coverage.js';
import { topicFilterMatcher } from '../src/processing/topic_filter.js';

test('a grant covers exactly the filters whose every topic it matches', () => {
  const cases: [string, string, boolean][] = [
    ['x3dh/v2/req/alice/#', 'x3dh/v2/req/alice/bundle.fetch', true],
    ['x3dh/v2/req/alice/#', 'x3dh/v2/req/alice', true],
    ['x3dh/v2/req/alice/#', 'x3dh/v2/req/alice/#', true],
    ['x3dh/v2/req/alice/#', 'x3dh/v2/req/alicex/y', false],
    ['x3dh/v2/req/alice/#', 'x3dh/v2/req/+/y', false],
    ['x3dh/v2/req/alice/#', 'x3dh/v2/req/#', false],
    ['x3dh/v2/resp/alice', 'x3dh/v2/resp/alice', true],
    ['x3dh/v2/resp/alice', 'x3dh/v2/resp/+', false],
    ['x3dh/v2/resp/alice', 'x3dh/v2/resp/#', false],
    ['x3dh/v2/resp/alice', 'x3dh/v2/resp/alice/x', false],
    ['x3dh/v2/resp/alice', 'x3dh/v2/resp', false],
    ['x3dh/v2/req/#', 'x3dh/v2/req/+/bundle.fetch', true],
    ['x3dh/+/x', 'x3dh/+/x', true],
    ['x3dh/+/x', 'x3dh/#', false],
    ['x3dh/resp/#', '#', false],
    ['x3dh/resp/#', '$share/g/x3dh/resp/#', false],
  ];
  for (const [grant, filter, covered] of cases) assert.equal(filterCovers(grant, filter), covered, `${grant} covers ${filter}`);
});

test('for a topic name, coverage is MQTT topic matching', () => {
  const level = fc.constantFrom('a', 'b', '');
  const grant = fc.tuple(fc.array(fc.constantFrom('a', 'b', '', '+'), { maxLength: 4 }), fc.boolean())
    .map(([levels, multi]) => [...levels, ...(multi || levels.length === 0 ? ['#'] : [])].join('/'));
  const topic = fc.array(level, { minLength: 1, maxLength: 5 }).map((levels) => levels.join('/'));
  fc.assert(fc.property(grant, topic, (g, t) => filterCovers(g, t) === topicFilterMatcher(g)(t.split('/'))));
});
