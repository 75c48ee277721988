// Preloaded (NODE_OPTIONS=--import) by every Node.js process of the qemu
// guest; see GUEST_NODE_ENV in guest-job.ts for why. Plain JavaScript: it must
// run before the first .ts file, whose type stripping is the WebAssembly
// (amaro) these flags are about. V8 applies no flag implications at run time,
// so both flags are needed to keep wasm functions on Liftoff.
import { setFlagsFromString } from "node:v8";

setFlagsFromString("--no-wasm-tier-up --no-wasm-dynamic-tiering");
