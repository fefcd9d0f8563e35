// Seed flow 2 for k6: an OAuth client-credentials token per virtual user, then open orders,
// order metrics and order drafts (weights 4:2:1) with 0.5-2 s pauses. Mirrors
// examples/scenarios/oauth-api.yml.
import http from 'k6/http';
import { check, sleep } from 'k6';

const HOST = __ENV.TARGET_HOST;

export const options = {
  thresholds: {
    http_req_duration: ['p(95)<2000'],
    'http_req_duration{name:/api/v2/orders}': ['p(99)<3000'],
    checks: ['rate>0.99'],
  },
};

const DRAFT = JSON.stringify({
  customer_id: 'cust_10482',
  currency: 'USD',
  items: [
    { sku: 'SKU-CHAIR-BLK', quantity: 2, unit_price: 149.99 },
    { sku: 'SKU-DESK-OAK', quantity: 1, unit_price: 399.0 },
  ],
  source: 'web',
  notes: 'Created by automated performance test',
});

let headers = null;

function token() {
  const body = JSON.stringify({
    grant_type: 'client_credentials',
    client_id: __ENV.API_CLIENT_ID || 'web-frontend',
    client_secret: __ENV.API_CLIENT_SECRET || 'super-secret-value',
    audience: 'https://api.example.internal',
  });
  const res = http.post(`${HOST}/oauth/token`, body, {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: '/oauth/token' },
  });
  const ok = check(res, { 'token issued': (r) => r.status === 200 && !!r.json('access_token') });
  if (ok) {
    headers = { Authorization: `Bearer ${res.json('access_token')}`, 'Content-Type': 'application/json' };
  }
}

function draft() {
  const res = http.post(`${HOST}/api/v2/orders/drafts`, DRAFT, { headers, tags: { name: '/api/v2/orders/drafts' } });
  check(res, { 'draft created (201)': (r) => r.status === 201 });
}

const TASKS = [
  [4, () => http.get(`${HOST}/api/v2/orders?status=open&limit=50`, { headers, tags: { name: '/api/v2/orders' } })],
  [2, () => http.get(`${HOST}/api/v2/metrics/orders?window=24h`, { headers, tags: { name: '/api/v2/metrics/orders' } })],
  [1, draft],
];

function pick(weighted) {
  const total = weighted.reduce((sum, [w]) => sum + w, 0);
  let x = Math.random() * total;
  for (const [w, task] of weighted) {
    if ((x -= w) < 0) return task;
  }
  return weighted[weighted.length - 1][1];
}

export default function () {
  if (headers === null) {
    token();
    if (headers === null) {
      sleep(1);
      return;
    }
  }
  pick(TASKS)();
  sleep(0.5 + Math.random() * 1.5);
}
