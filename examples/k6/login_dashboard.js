// Seed flow 1 for k6: log in once per virtual user, keep the bearer token, then browse the
// dashboard, the project list and the profile (weights 3:2:1) with 1-3 s pauses. Same request
// names as examples/scenarios/login-dashboard.yml, so every engine reports the same endpoints.
// The gate passes the target as TARGET_HOST, and the load (--users, --run-time) as flags.
import http from 'k6/http';
import { check, sleep } from 'k6';

const HOST = __ENV.TARGET_HOST;

export const options = {
  thresholds: {
    http_req_duration: ['p(95)<2000'],
    checks: ['rate>0.99'],
  },
};

let headers = null;

function login() {
  const body = JSON.stringify({
    email: __ENV.APP_USERNAME || 'test.user@example.com',
    password: __ENV.APP_PASSWORD || 'ChangeMe123!',
    remember_me: true,
  });
  const res = http.post(`${HOST}/api/v1/auth/login`, body, {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: '/api/v1/auth/login' },
  });
  const ok = check(res, {
    'login status is 200': (r) => r.status === 200,
    'login returns a token': (r) => r.status === 200 && !!r.json('token'),
  });
  if (ok) {
    headers = { Authorization: `Bearer ${res.json('token')}`, 'Content-Type': 'application/json' };
  }
}

function pick(weighted) {
  const total = weighted.reduce((sum, [w]) => sum + w, 0);
  let x = Math.random() * total;
  for (const [w, task] of weighted) {
    if ((x -= w) < 0) return task;
  }
  return weighted[weighted.length - 1][1];
}

const TASKS = [
  [3, () => http.get(`${HOST}/dashboard`, { headers, tags: { name: '/dashboard' } })],
  [2, () => http.get(`${HOST}/api/v1/projects?per_page=20&page=1`, { headers, tags: { name: '/api/v1/projects' } })],
  [1, () => http.get(`${HOST}/api/v1/account/profile`, { headers, tags: { name: '/api/v1/account/profile' } })],
];

export default function () {
  if (headers === null) {
    login();
    if (headers === null) {
      sleep(1);
      return;
    }
  }
  pick(TASKS)();
  sleep(1 + Math.random() * 2);
}
