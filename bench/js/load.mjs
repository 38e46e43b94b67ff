// Load generator for the official JS SDK (@azure/communication-identity,
// pinned by package-lock.json): CONCURRENCY in-flight getToken promises in
// this one Node process, for WARMUP_S seconds (not counted) and then
// DURATION_S seconds (counted). bench/js-vs-go.sh runs it; bench/goload is
// its Go twin and prints the same JSON line.
//
// Environment:
//   ACS_CONNECTION_STRING  the emulator's connection string (required)
//   USER_ID                the pre-created identity to issue tokens for (required)
//   CONCURRENCY            in-flight requests (default 1)
//   DURATION_S, WARMUP_S   seconds (default 10 and 2)
//   SCOPE                  token scope (default chat)
//   EMU_PID                if set, the emulator's CPU time over the window is
//                          read from /proc/EMU_PID/stat (Linux)
//   CLK_TCK                clock ticks per second of /proc (default 100)
//   NODE_EXTRA_CA_CERTS    the emulator's certificate, for https
//
// Output: one JSON line on stdout.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { CommunicationIdentityClient } from "@azure/communication-identity";

const conn = process.env.ACS_CONNECTION_STRING;
const userId = process.env.USER_ID;
if (!conn || !userId) {
  console.error("load.mjs: set ACS_CONNECTION_STRING and USER_ID");
  process.exit(2);
}
const concurrency = Number(process.env.CONCURRENCY ?? 1);
const durationS = Number(process.env.DURATION_S ?? 10);
const warmupS = Number(process.env.WARMUP_S ?? 2);
const scope = process.env.SCOPE ?? "chat";
const emuPid = process.env.EMU_PID;
const clkTck = Number(process.env.CLK_TCK ?? 100);

// The SDK refuses plain http unless told otherwise (as in interop/js).
const insecure = /endpoint=http:/i.test(conn);
const client = new CommunicationIdentityClient(conn, insecure ? { allowInsecureConnection: true } : {});
const user = { communicationUserId: userId };
const scopes = [scope];

// procCPU returns a process's user+system CPU seconds from /proc/PID/stat.
function procCPU(pid) {
  if (!pid) return NaN;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    // After "pid (comm) ", field 3 (state) is f[0]; utime is field 14, stime 15.
    return (Number(f[11]) + Number(f[12])) / clkTck;
  } catch {
    return NaN;
  }
}

let phase = "warmup"; // warmup -> measure -> stop
let ops = 0;
let errors = 0;
let firstError = "";
const lat = [];

async function worker() {
  while (phase !== "stop") {
    const p = phase;
    const t = performance.now();
    try {
      const r = await client.getToken(user, scopes);
      if (!r.token || !(r.expiresOn instanceof Date)) throw new Error("empty token");
      if (p === "measure" && phase === "measure") {
        ops++;
        lat.push(performance.now() - t);
      }
    } catch (e) {
      if (p === "measure") {
        errors++;
        if (!firstError) firstError = String(e && e.message ? e.message : e).slice(0, 200);
      }
    }
  }
}

const workers = Array.from({ length: concurrency }, worker);
await new Promise((r) => setTimeout(r, warmupS * 1000));
const cpu0 = process.cpuUsage();
const emu0 = procCPU(emuPid);
const t0 = performance.now();
phase = "measure";
await new Promise((r) => setTimeout(r, durationS * 1000));
phase = "stop";
const t1 = performance.now();
const cpu1 = process.cpuUsage(cpu0);
const emu1 = procCPU(emuPid);
await Promise.all(workers);

const secs = (t1 - t0) / 1000;
lat.sort((a, b) => a - b);
const q = (x) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(x * lat.length))] : NaN);
const clientCPU = (cpu1.user + cpu1.system) / 1e6;
console.log(
  JSON.stringify({
    sdk: "js",
    concurrency,
    seconds: secs,
    ops,
    errors,
    first_error: firstError,
    ops_per_s: ops / secs,
    p50_ms: q(0.5),
    p99_ms: q(0.99),
    client_cpu_s: clientCPU,
    client_cpu_us_per_op: ops ? (clientCPU * 1e6) / ops : NaN,
    emu_cpu_s: emu1 - emu0,
    emu_cpu_us_per_op: ops ? ((emu1 - emu0) * 1e6) / ops : NaN,
    runtime: `node ${process.version}`,
  }),
);
