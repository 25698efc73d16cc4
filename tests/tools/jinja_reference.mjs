// What the golden scripts that render chat templates with @huggingface/jinja share: the clock
// pinned for strftime_now (the C++ tests pass the same instant as SOURCE_DATE_EPOCH) and the npm
// packages loaded from the folder given as --modules (default /tmp/jinjaref/node_modules).
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

export const kSourceDateEpoch = 1741996800; // 2025-03-15T00:00:00Z

// Date() and Date.now() return kSourceDateEpoch, in UTC.
export function pinClock() {
  process.env.TZ = "UTC";
  const RealDate = Date;
  globalThis.Date = class extends RealDate {
    constructor(...args) {
      super(...(args.length ? args : [kSourceDateEpoch * 1000]));
    }
    static now() {
      return kSourceDateEpoch * 1000;
    }
  };
}

export const modulesDir = (() => {
  const index = process.argv.indexOf("--modules");
  return index > 0 ? process.argv[index + 1] : "/tmp/jinjaref/node_modules";
})();

// The package's module (its file `entry`) and its version.
export async function loadPackage(name, entry) {
  const dir = path.join(modulesDir, name);
  const module = await import(pathToFileURL(path.join(dir, entry)).href);
  const version = JSON.parse(fs.readFileSync(path.join(dir, "package.json"))).version;
  return { module, version };
}
