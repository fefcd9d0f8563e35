// The benchmark's k6 script: one GET of the target per iteration, as fast as it answers, or
// with a pause of PAUSE seconds after each (bench/run.py's ingestion-overhead rows, where a
// fixed rate per virtual user makes k6 alone and k6 through the gate do the same work).
import http from 'k6/http';
import { sleep } from 'k6';

const PAUSE = Number(__ENV.PAUSE || 0);

export default function () {
  http.get(__ENV.TARGET_HOST);
  if (PAUSE > 0) sleep(PAUSE);
}
