// The one place the page scopes its requests to the workspace it shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scoped, scopedRequest, setViewing } from '../../static/js/scope.js';

test('one\'s own workspace: nothing is scoped', () => {
  setViewing(null);
  assert.equal(scoped('/api/engines'), '/api/engines');
  assert.equal(scopedRequest('GET', '/api/events?since=3'), '/api/events?since=3');
});

test('another workspace: its reads are scoped once, however often asked', () => {
  setViewing('wab12');
  assert.equal(scoped('/api/engines'), '/api/engines?workspace=wab12');
  assert.equal(scoped(scoped('/api/events?since=3')), '/api/events?since=3&workspace=wab12');
  assert.equal(scopedRequest('GET', scoped('/api/files')), '/api/files?workspace=wab12');
  assert.equal(scopedRequest('GET', '/api/labs/l1'), '/api/labs/l1?workspace=wab12');
  setViewing(null);
});

test('changes and one\'s own routes are never scoped', () => {
  setViewing('wab12');
  assert.equal(scopedRequest('POST', '/api/engines'), '/api/engines');
  assert.equal(scopedRequest('GET', '/api/workspace'), '/api/workspace');
  assert.equal(scopedRequest('GET', '/api/workspaces'), '/api/workspaces');
  assert.equal(scopedRequest('GET', '/api/enginesX'), '/api/enginesX');
  setViewing(null);
});
