#!/usr/bin/env node
// ONNX Runtime side of bench/run_bench.sh: the same measurements as `privedge bench --json`.
//
//   node bench/ort_bench.js MODEL --input INPUT.npy [--ref REF.npy] [--threads N] [--runs N]
//                           [--warmup N]
//
// Loads onnxruntime-node from $PRIVEDGE_ORT_DIR (default ~/.cache/privedge-bench/ort, where
// run_bench.sh installs it; it is a benchmark peer, never a dependency of privedge), creates a
// CPU session (graph optimizations "all", intra-op threads N, one inter-op thread, sequential
// execution), runs it once (first run), --warmup more times untimed, then --runs timed runs.
// Prints one JSON object on one line with the keys of `privedge bench --json` (load_ms,
// first_run_ms, median_ms, p90_ms, min_ms, mean_ms, max_ms, rss_before_load_kb, peak_rss_kb,
// model_rss_kb) plus ort_version and, with --ref, the first run's output error: max_abs_err
// and rel_err (relative to max|ref|). rss_before_load_kb is the peak RSS once node and the
// runtime library are loaded and the input read, so model_rss_kb is the model's own share.
// Errors: one line on stderr, exit 1.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

function fail(message) {
  process.stderr.write(`ort_bench: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const opts = { threads: 1, runs: 20, warmup: 3, input: null, ref: null, model: null };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      if (opts.model) fail(`unexpected argument '${a}'`);
      opts.model = a;
      continue;
    }
    const name = a.slice(2);
    if (!(name in opts) || name === 'model') fail(`unknown option ${a}`);
    if (i + 1 >= argv.length) fail(`option ${a} needs a value`);
    const value = argv[++i];
    if (['threads', 'runs', 'warmup'].includes(name)) {
      const n = Number(value);
      const min = name === 'runs' ? 1 : 0;
      if (!Number.isInteger(n) || n < min) {
        fail(`${a} expects an integer >= ${min}, got '${value}'`);
      }
      opts[name] = n;
    } else {
      opts[name] = value;
    }
  }
  if (!opts.model) fail('expected a MODEL path');
  if (!opts.input) fail('expected --input FILE.npy');
  return opts;
}

// NumPy .npy, versions 1-3, little-endian float32 / float64, C order.
function readNpy(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    fail(`cannot read '${file}': ${e.message}`);
  }
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') {
    fail(`'${file}' is not .npy`);
  }
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !shape || /'fortran_order':\s*True/.test(header)) {
    fail(`'${file}': unsupported .npy header`);
  }
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const kinds = { '<f4': [Float32Array, 'float32'], '<f8': [Float64Array, 'float64'] };
  if (!kinds[descr[1]]) fail(`'${file}': dtype ${descr[1]} not supported (float32/float64 only)`);
  const [Type, type] = kinds[descr[1]];
  const bytes = count * Type.BYTES_PER_ELEMENT;
  if (buf.length < start + bytes) fail(`'${file}': truncated`);
  // Copy: the data offset inside the Buffer's pool need not be aligned for the element type.
  const data = new Type(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + start + bytes));
  return { type, dims, data };
}

function summarize(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const n = s.length;
  return {
    median: n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2,
    p90: s[Math.ceil(0.9 * n) - 1],
    min: s[0],
    max: s[n - 1],
    mean: s.reduce((a, b) => a + b, 0) / n,
  };
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const maxRssKb = () => process.resourceUsage().maxRSS;  // KiB on Linux

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const ortDir = process.env.PRIVEDGE_ORT_DIR ||
                 path.join(os.homedir(), '.cache', 'privedge-bench', 'ort');
  let ort;
  try {
    ort = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    fail(`cannot load onnxruntime-node from ${ortDir} (run bench/run_bench.sh to install it): ` +
         e.message.split('\n')[0]);
  }
  const input = readNpy(opts.input);
  const ref = opts.ref ? readNpy(opts.ref) : null;

  const rssBefore = maxRssKb();
  const t0 = nowMs();
  let session;
  try {
    session = await ort.InferenceSession.create(opts.model, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: opts.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
  } catch (e) {
    fail(`cannot load '${opts.model}': ${e.message.split('\n')[0]}`);
  }
  const loadMs = nowMs() - t0;
  if (session.inputNames.length !== 1) {
    fail(`expected a model with one input, got ${session.inputNames.length}`);
  }
  const feeds = { [session.inputNames[0]]: new ort.Tensor(input.type, input.data, input.dims) };

  let firstRunMs = 0;
  let firstOutput = null;
  const timed = [];
  for (let i = 0; i < 1 + opts.warmup + opts.runs; ++i) {
    const start = nowMs();
    const out = await session.run(feeds);
    const elapsed = nowMs() - start;
    if (i === 0) {
      firstRunMs = elapsed;
      firstOutput = out[session.outputNames[0]];
    }
    if (i > opts.warmup) timed.push(elapsed);
  }
  const lat = summarize(timed);
  const peak = maxRssKb();

  const result = {
    model: opts.model, engine: 'onnxruntime-node', ort_version: ort.env.versions.common,
    threads: opts.threads, runs: opts.runs, warmup: opts.warmup,
    load_ms: loadMs, first_run_ms: firstRunMs, median_ms: lat.median, p90_ms: lat.p90,
    min_ms: lat.min, mean_ms: lat.mean, max_ms: lat.max,
    rss_before_load_kb: rssBefore, peak_rss_kb: peak, model_rss_kb: peak - rssBefore,
  };
  if (ref) {
    const got = firstOutput;
    if (got.dims.join(',') !== ref.dims.join(','))
      fail(`output shape [${got.dims}] differs from the reference's [${ref.dims}]`);
    let scale = 0;
    let err = 0;
    for (let i = 0; i < ref.data.length; ++i) {
      scale = Math.max(scale, Math.abs(ref.data[i]));
      const d = Math.abs(got.data[i] - ref.data[i]);
      err = Number.isNaN(d) ? Infinity : Math.max(err, d);
    }
    result.max_abs_err = err;
    result.rel_err = scale > 0 ? err / scale : err;
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => fail(e.message.split('\n')[0]));
