// A Lua fixture's `handle` in V8 (node), as the Rust baseline and the hb_beamr rows run
// it: malloc + write the message (and the environment), handle(msg, env), read the
// NUL-terminated reply, free. Every import is answered with zero, as the bench's
// hb_beamr import fun answers them. memory64 modules (pointers are BigInts) need
// node's --experimental-wasm-memory64.
//
// Usage:
//   node lua_node.cjs lua-aos.wasm [N]
//     the median of N evaluations of `return 1 + 1` (env 0), in microseconds;
//   node lua_node.cjs lua-process.wasm N MSG.json ENV.json REPLY.json [WARMUP]
//     the median of N evaluations of the message in MSG.json with the environment in
//     ENV.json, after WARMUP untimed ones (default N / 4); every reply must be the
//     text of REPLY.json.
const fs = require('fs');
const [path, nArg, msgPath, envPath, replyPath, warmArg] = process.argv.slice(2);
const n = Number(nArg || 1000);
const wasm = new WebAssembly.Module(fs.readFileSync(path));
const imports = {};
for (const imp of WebAssembly.Module.imports(wasm)) {
  if (imp.kind !== 'function') continue;
  (imports[imp.module] ||= {})[imp.name] = () => 0;
}
const ex = new WebAssembly.Instance(wasm, imports).exports;
ex._initialize();

// Pointers are i32 (Numbers) or, in a memory64 module, i64 (BigInts).
let ptr = (x) => x;
try {
  ex.free(ex.malloc(1));
} catch (e) {
  if (!(e instanceof TypeError)) throw e;
  ptr = BigInt;
}

const text = (p) => (p ? fs.readFileSync(p, 'utf8').replace(/\n$/, '') : null);
const msg = Buffer.from((msgPath ? text(msgPath) : 'return 1 + 1') + '\0');
const env = envPath ? Buffer.from(text(envPath) + '\0') : null;
const expected = replyPath ? text(replyPath) : '{"ok":true,"output":"2"}';
const warm = msgPath ? Number(warmArg || n >> 2) : 0;

function write(buf) {
  const p = ex.malloc(ptr(buf.length));
  new Uint8Array(ex.memory.buffer, Number(p), buf.length).set(buf);
  return p;
}

function evaluate() {
  const m = write(msg);
  const e = env ? write(env) : ptr(0);
  const out = Number(ex.handle(m, e));
  const heap = new Uint8Array(ex.memory.buffer);
  const end = heap.indexOf(0, out);
  const reply = Buffer.from(heap.subarray(out, end)).toString();
  ex.free(m);
  if (env) ex.free(e);
  return reply;
}

for (let i = 0; i < warm; i++) evaluate();
const times = [];
for (let i = 0; i < n; i++) {
  const t0 = process.hrtime.bigint();
  const reply = evaluate();
  times.push(Number(process.hrtime.bigint() - t0) / 1000);
  if (reply !== expected) throw new Error('unexpected reply ' + reply);
}
times.sort((a, b) => a - b);
console.log(times[n >> 1].toFixed(3));
