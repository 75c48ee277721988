// Prints the guest's time scale (run in the guest): the same loop as on the
// host, whose CPU milliseconds there are the argument.
import { loopCpuMillis, timeScale } from "./emulation-speed.ts";

console.log(timeScale(loopCpuMillis(), Number(process.argv[2]) || 1));
