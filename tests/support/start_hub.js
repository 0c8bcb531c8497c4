#!/usr/bin/env node
// Start a real Scramjet Transform Hub 0.18.7 for tests.
//
// The `sth` CLI package is not on npm, so we do what it does: build a config with ConfigService from
// @scramjet/sth-config and call startHost() from @scramjet/host (both installed by
// .ci/install-scramjet-hub.sh into --hub-dir). Runners are spawned as child processes of this one
// (runtimeAdapter "process", no Docker), so killing this process group stops every instance too.
//
// Usage: node start_hub.js --hub-dir DIR --port N --instances-port N --sequences-root DIR
//                          [--info-file PATH] [--no-identify-existing]
"use strict";

const path = require("path");
const { createRequire } = require("module");
const { parseArgs } = require("util");

const { values: opts } = parseArgs({
    options: {
        "hub-dir": { type: "string" },
        "port": { type: "string" },
        "instances-port": { type: "string" },
        "sequences-root": { type: "string" },
        "info-file": { type: "string" },
        "no-identify-existing": { type: "boolean", default: false },
    },
});
for (const name of ["hub-dir", "port", "instances-port", "sequences-root"]) {
    if (!opts[name]) {
        console.error(`start_hub.js: --${name} is required`);
        process.exit(2);
    }
}

// Resolve the hub's packages from its install folder, not from this file's location.
const hubRequire = createRequire(path.join(path.resolve(opts["hub-dir"]), "package.json"));
const { startHost } = hubRequire("@scramjet/host");
const { ConfigService } = hubRequire("@scramjet/sth-config");

const config = new ConfigService({
    logLevel: "DEBUG",
    logColors: false,
    host: {
        hostname: "127.0.0.1",
        port: Number(opts.port),
        apiBase: "/api/v1",
        // The runner socket server binds all interfaces in 0.18.7; the caller picks a free high port.
        instancesServerPort: Number(opts["instances-port"]),
        infoFilePath: opts["info-file"] || path.join(opts["sequences-root"], "..", "sth-id.json"),
    },
    runtimeAdapter: "process",
    sequencesRoot: path.resolve(opts["sequences-root"]),
}).getConfig();

// identifyExisting: reload sequences already stored in sequencesRoot (they survive restarts).
startHost({}, config, { identifyExisting: !opts["no-identify-existing"] })
    .then(() => console.log(`start_hub.js: hub listening on 127.0.0.1:${opts.port}`))
    .catch((err) => {
        console.error("start_hub.js: the hub failed to start:", err && err.stack ? err.stack : err);
        process.exit(1);
    });
