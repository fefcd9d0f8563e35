// Seed flow 4 for k6: an admin logs in (JWT) once per virtual user, queries audit logs and
// requests a usage report, accepted with 202 and polled two seconds later (weights 2:1), with
// 2-5 s pauses. Mirrors examples/scenarios/admin-reports.yml. This script sets its own load in
// `scenarios`: the gate then passes k6 no --vus or --duration, and its load fingerprint
// records the script's scenarios.
import http from 'k6/http';
import { check, sleep } from 'k6';

const HOST = __ENV.TARGET_HOST;

export const options = {
  scenarios: {
    admins: { executor: 'constant-vus', vus: 3, duration: __ENV.ADMIN_RUN_TIME || '30s' },
  },
  thresholds: {
    'http_req_duration{name:/api/admin/audit-logs}': ['p(95)<2000'],
    checks: ['rate>0.99'],
  },
};

const REPORT = JSON.stringify({
  report_type: 'usage_summary',
  date_range: { from: '2026-03-01', to: '2026-03-31' },
  format: 'csv',
  filters: { region: ['us-east-1', 'eu-west-1'], plan: ['team', 'enterprise'] },
});

let headers = null;

function login() {
  const body = JSON.stringify({
    username: __ENV.APP_USERNAME || 'admin@example.com',
    password: __ENV.APP_PASSWORD || 'AdminPass123!',
  });
  const res = http.post(`${HOST}/api/admin/login`, body, {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: '/api/admin/login' },
  });
  const ok = check(res, { 'admin logged in': (r) => r.status === 200 && !!r.json('jwt') });
  if (ok) {
    headers = { Authorization: `Bearer ${res.json('jwt')}`, 'Content-Type': 'application/json' };
  }
}

function usageReport() {
  const res = http.post(`${HOST}/api/admin/reports`, REPORT, { headers, tags: { name: '/api/admin/reports' } });
  const accepted = check(res, { 'report accepted (202)': (r) => r.status === 202 && !!r.json('report_id') });
  if (!accepted) return;
  sleep(2);
  http.get(`${HOST}/api/admin/reports/${res.json('report_id')}/status`, {
    headers,
    tags: { name: '/api/admin/reports/:id/status' },
  });
}

export default function () {
  if (headers === null) {
    login();
    if (headers === null) {
      sleep(1);
      return;
    }
  }
  if (Math.random() < 2 / 3) {
    http.get(`${HOST}/api/admin/audit-logs?actor_type=user&from=2026-04-01&to=2026-04-06&page=1&page_size=100`, {
      headers,
      tags: { name: '/api/admin/audit-logs' },
    });
  } else {
    usageReport();
  }
  sleep(2 + Math.random() * 3);
}
