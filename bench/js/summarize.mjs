// Helpers of bench/js-vs-go.sh, in Node so that the script needs nothing
// but go, node and npm.
//
//   node summarize.mjs cell RUN CONCURRENCY < lines   merge the JSON lines of one cell
//        (one per process) into one line, print it, and a progress line on stderr
//   node summarize.mjs table FILE "1 16"              print the markdown table of medians
//   node summarize.mjs errors FILE                    print the error count and the first error
import { readFileSync } from "node:fs";

const [cmd, ...args] = process.argv.slice(2);

function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}
const f0 = (x) => (Number.isFinite(x) ? String(Math.round(x)) : "-");
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : "-");
const lines = (s) =>
  s
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));

if (cmd === "cell") {
  const [run, conc] = args.map(Number);
  const parts = lines(readFileSync(0, "utf8"));
  if (!parts.length) throw new Error("no result lines");
  const sum = (k) => parts.reduce((a, p) => a + p[k], 0);
  const ops = sum("ops");
  const out = {
    ...parts[0],
    run,
    concurrency: conc,
    procs: parts.length,
    ops,
    errors: sum("errors"),
    first_error: parts.map((p) => p.first_error).join(""),
    ops_per_s: sum("ops_per_s"),
    p50_ms: Math.max(...parts.map((p) => p.p50_ms)),
    p99_ms: Math.max(...parts.map((p) => p.p99_ms)),
    client_cpu_s: sum("client_cpu_s"),
    // Every process read the emulator's CPU over its own window; the windows
    // overlap (but for start-up), so the first one stands for all.
    emu_cpu_s: parts[0].emu_cpu_s,
  };
  out.client_cpu_us_per_op = ops ? (out.client_cpu_s * 1e6) / ops : NaN;
  out.emu_cpu_us_per_op = ops ? (out.emu_cpu_s * 1e6 * parts.length) / ops : NaN;
  console.log(JSON.stringify(out));
  console.error(
    `   run ${run} ${out.sdk} c=${conc}${parts.length > 1 ? ` (${parts.length} procs)` : ""}: ${f0(out.ops_per_s)} ops/s, ` +
      `p50 ${f1(out.p50_ms)} ms, errors ${out.errors}, client ${f0(out.client_cpu_us_per_op)} µs CPU/op, ` +
      `emulator ${f0(out.emu_cpu_us_per_op)} µs CPU/op (${f1(out.emu_cpu_s / out.seconds)} cores)`,
  );
} else if (cmd === "table") {
  const all = lines(readFileSync(args[0], "utf8"));
  const concs = args[1].split(/\s+/).filter(Boolean).map(Number);
  const pick = (sdk, c) => all.filter((r) => r.sdk === sdk && r.concurrency === c);
  const med = (rs, k) => median(rs.map((r) => r[k]));
  console.log(
    "| concurrency | JS SDK ops/s | Go ops/s | Go/JS | JS p50 ms | Go p50 ms | client CPU µs/op (JS / Go) | emulator CPU µs/op (JS / Go) | emulator cores (JS / Go) | errors (JS / Go) |",
  );
  console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const c of concs) {
    const js = pick("js", c);
    const go = pick("go", c);
    const j = med(js, "ops_per_s");
    const g = med(go, "ops_per_s");
    const cores = (rs) => median(rs.map((r) => r.emu_cpu_s / r.seconds));
    const errs = (rs) => rs.reduce((a, r) => a + r.errors, 0);
    console.log(
      `| ${c} | ${f0(j)} | ${f0(g)} | **${f1(g / j)}×** | ${f1(med(js, "p50_ms"))} | ${f1(med(go, "p50_ms"))} | ` +
        `${f0(med(js, "client_cpu_us_per_op"))} / ${f0(med(go, "client_cpu_us_per_op"))} | ` +
        `${f0(med(js, "emu_cpu_us_per_op"))} / ${f0(med(go, "emu_cpu_us_per_op"))} | ` +
        `${f1(cores(js))} / ${f1(cores(go))} | ${errs(js)} / ${errs(go)} |`,
    );
  }
  const groups = {};
  for (const r of all) (groups[`${r.sdk} c=${r.concurrency}`] ??= []).push(Math.round(r.ops_per_s));
  console.log("");
  console.log(
    "each run (ops/s): " +
      Object.entries(groups)
        .map(([k, v]) => `${k}: ${v.join(", ")}`)
        .join("; "),
  );
} else if (cmd === "errors") {
  const all = lines(readFileSync(args[0], "utf8"));
  const n = all.reduce((a, r) => a + r.errors, 0);
  const first = all.map((r) => r.first_error).find((e) => e) ?? "";
  console.log(n ? `${n} ${first}` : "0");
} else {
  console.error("usage: summarize.mjs cell RUN C | table FILE CONCS | errors FILE");
  process.exit(2);
}
