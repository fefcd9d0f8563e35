// Seed flow 3 for k6: a shop session (token and cart id) per virtual user, then search,
// product pages and cart writes (weights 3:2:1) with random terms, products and quantities and
// 1-4 s pauses. Mirrors examples/scenarios/shop-cart.yml.
import http from 'k6/http';
import { check, sleep } from 'k6';

const HOST = __ENV.TARGET_HOST;

export const options = {
  thresholds: {
    'http_req_duration{name:/api/catalog/search}': ['p(95)<2000'],
    http_req_failed: ['rate<0.01'],
  },
};

const PRODUCT_IDS = [1012, 1044, 1098, 1121, 1203];
const SEARCH_TERMS = ['office chair', 'standing desk', 'monitor arm', 'desk lamp'];

let headers = null;
let cartId = null;

const any = (list) => list[Math.floor(Math.random() * list.length)];

function session() {
  const body = JSON.stringify({
    email: __ENV.APP_USERNAME || 'buyer@example.com',
    password: __ENV.APP_PASSWORD || 'SecurePass123!',
  });
  const res = http.post(`${HOST}/api/auth/session`, body, {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: '/api/auth/session' },
  });
  const ok = check(res, { 'session opened': (r) => r.status === 200 && !!r.json('access_token') });
  if (ok) {
    headers = { Authorization: `Bearer ${res.json('access_token')}`, 'Content-Type': 'application/json' };
    cartId = res.json('cart_id');
  }
}

function addToCart() {
  if (cartId === null) return;
  const item = JSON.stringify({ product_id: any(PRODUCT_IDS), quantity: 1 + Math.floor(Math.random() * 3) });
  const res = http.post(`${HOST}/api/carts/${cartId}/items`, item, { headers, tags: { name: '/api/carts/:id/items' } });
  check(res, { 'item added (201)': (r) => r.status === 201 });
}

const TASKS = [
  [3, () => http.get(`${HOST}/api/catalog/search?q=${encodeURIComponent(any(SEARCH_TERMS))}&sort=relevance&page=1`, { headers, tags: { name: '/api/catalog/search' } })],
  [2, () => http.get(`${HOST}/api/catalog/products/${any(PRODUCT_IDS)}`, { headers, tags: { name: '/api/catalog/products/:id' } })],
  [1, addToCart],
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
    session();
    if (headers === null) {
      sleep(1);
      return;
    }
  }
  pick(TASKS)();
  sleep(1 + Math.random() * 3);
}
