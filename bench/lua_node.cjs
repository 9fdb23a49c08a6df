// The Lua fixture's `handle` in V8 (node), as the Rust baseline runs it: malloc +
// write the message, handle(msg, 0), read the NUL-terminated reply, free. Imports are
// answered with zeros. Usage: node bench/lua_node.cjs lua-aos.wasm [N]; prints the
// median of N evaluations in microseconds of `return 1 + 1`, or of the Lua in the file
// LUA_CHUNK names; memory64 images need node's --experimental-wasm-memory64.
const fs = require('fs');
const [path, nArg] = process.argv.slice(2);
const n = Number(nArg || 1000);
const wasm = new WebAssembly.Module(fs.readFileSync(path));
const imports = {};
for (const imp of WebAssembly.Module.imports(wasm)) {
  if (imp.kind !== 'function') continue;
  (imports[imp.module] ||= {})[imp.name] = () => 0;
}
const ex = new WebAssembly.Instance(wasm, imports).exports;
ex._initialize();
const chunk = process.env.LUA_CHUNK ? fs.readFileSync(process.env.LUA_CHUNK) : 'return 1 + 1';
const msg = Buffer.concat([Buffer.from(chunk), Buffer.from([0])]);
// Pointers are BigInts on memory64.
const wide = (() => {
  try { ex.free(ex.malloc(1)); return false; } catch (e) { return true; }
})();
const len = wide ? BigInt(msg.length) : msg.length;
let expected = process.env.LUA_CHUNK ? null : '{"ok":true,"output":"2"}';
const times = [];
for (let i = 0; i < n; i++) {
  const t0 = process.hrtime.bigint();
  const ptr = ex.malloc(len);
  new Uint8Array(ex.memory.buffer, Number(ptr), msg.length).set(msg);
  const out = Number(ex.handle(ptr, wide ? 0n : 0));
  const heap = new Uint8Array(ex.memory.buffer);
  const end = heap.indexOf(0, out);
  const reply = Buffer.from(heap.subarray(out, end)).toString();
  ex.free(ptr);
  times.push(Number(process.hrtime.bigint() - t0) / 1000);
  if (expected === null && reply.startsWith('{"ok":true')) expected = reply;
  if (reply !== expected) throw new Error('unexpected reply ' + reply);
}
times.sort((a, b) => a - b);
console.log(times[n >> 1].toFixed(3));
