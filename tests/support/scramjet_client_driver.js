// Drive a Scramjet hub with Scramjet's official Node client (npm @scramjet/api-client 0.18.7) and
// print, as JSON, every HTTP exchange it made: step, method, status and the shape of the answer
// (top-level keys, "<empty>", or "[]" + the keys of the first item). Used by
// tests/integration/test_scramjet_differential.py against the real hub and the emulator.
//
//   node scramjet_client_driver.js CLIENT_DIR API_BASE PACKAGE.tar.gz
"use strict";

const fs = require("fs");
const path = require("path");

const [clientDir, apiBase, packagePath] = process.argv.slice(2);
const { HostClient, InstanceClient } = require(path.join(clientDir, "node_modules", "@scramjet", "api-client"));

const host = new HostClient(apiBase);
const utils = host.client;
const exchanges = [];
let current = "setup";

function shape(text) {
    if (!text.trim()) return "<empty>";
    let value;
    try {
        value = JSON.parse(text);
    } catch (_e) {
        return "<text>";
    }
    if (Array.isArray(value)) {
        if (!value.length) return "[]";
        const first = value[0];
        return first && typeof first === "object" ? `[${Object.keys(first).sort().join(",")}]` : `[${typeof first}]`;
    }
    return value && typeof value === "object" ? Object.keys(value).sort().join(",") || "{}" : typeof value;
}

// A stream step reads its answer for this long: a stream still open then is "<open stream>".
const STREAM_MS = 1500;
let streaming = false;

// node-fetch's body is a Node stream: read it (not a clone, which would stall on the unread
// original) until it ends or ``ms`` pass, then drop the connection.
function readFor(body, ms) {
    return new Promise((resolve) => {
        const chunks = [];
        let done = false;
        const finish = (ended) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            body.removeAllListeners("data");
            if (!ended) body.destroy();
            resolve({ ended, text: Buffer.concat(chunks).toString("utf-8") });
        };
        const timer = setTimeout(() => finish(false), ms);
        body.on("data", (chunk) => chunks.push(Buffer.from(chunk)));
        body.on("end", () => finish(true));
        body.on("error", () => finish(false));
    });
}

const realFetch = utils.fetch;
utils.fetch = async (input, init = {}) => {
    const started = Date.now();
    const response = await realFetch(input, init);
    let text, shapeOf;
    if (streaming && response.ok) {
        const read = await readFor(response.body, STREAM_MS);
        text = read.text;
        shapeOf = read.ended ? `<ended stream> ${shape(text)}` : "<open stream>";
    } else {
        text = await response.clone().text();
        shapeOf = shape(text);
    }
    const headers = {};
    for (const name of ["content-type", "access-control-allow-origin", "access-control-allow-methods",
        "access-control-allow-headers", "location"]) {
        const value = response.headers.get(name);
        if (value !== null) headers[name] = value.split(";")[0];
    }
    const method = (init.method || "get").toUpperCase();
    exchanges.push({
        step: current === "kill twice at once" && method === "GET" ? "info right after kill" : current,
        method,
        path: new URL(input.toString()).pathname.replace(/^.*\/api\/v1/, ""),
        status: response.status,
        shape: shapeOf,
        headers,
        ms: Date.now() - started,
        body: text.length <= 300 ? text : text.slice(0, 300),
    });
    return response;
};

async function step(name, action) {
    current = name;
    if (process.env.DRIVER_DEBUG) process.stderr.write(`step ${name}\n`); // where a hang is
    try {
        return await action();
    } catch (error) {
        return undefined; // the exchange (status, body) is what is compared
    }
}

// A stream: the client's own call; the fetch hook reads its answer for STREAM_MS, then drops it.
async function streamStep(name, action) {
    streaming = true;
    try {
        await step(name, action); // the hook has read the stream and dropped it
    } finally {
        streaming = false;
    }
}

const raw = (method, url, body, headers = {}) => utils.safeRequest(
    `${apiBase}/${url}`, { method, body, headers }, { parse: "text" }
);
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function gone(instance) {
    if (!instance) return; // its start failed: nothing to wait for
    for (let i = 0; i < 100; i++) {
        const info = await host.getInstanceInfo(instance.id).then(() => true, () => false);
        if (!info) return;
        await pause(100);
    }
}

async function main() {
    const pkg = () => fs.createReadStream(packagePath);
    await step("version", () => host.getVersion());
    await step("load-check", () => host.getLoadCheck());
    await step("load-check fsSize", async () => {
        const load = await host.getLoadCheck();
        current = "load-check fsSize keys";
        exchanges.push({ step: current, method: "-", path: "-", status: 0, ms: 0, headers: {},
            shape: Object.keys((load.fsSize || [])[0] || {}).sort().join(","), body: "" });
    });
    await step("options preflight", () => raw("options", "sequences", undefined,
        { origin: "http://example.com", "access-control-request-method": "GET" }));
    await step("list sequences trailing slash", () => utils.get("sequences/"));
    await streamStep("hub log stream", () => host.getLogStream());
    await step("topics", () => utils.get("topics"));
    const seqA = await step("upload", () => host.sendSequence(pkg()));
    const seqB = await step("upload same name", () => host.sendSequence(pkg()));
    await step("list sequences", () => host.listSequences());
    await step("get sequence", () => seqA.getInfo());
    await step("get sequence by name", () => host.getSequence("reconciler-test-counter"));
    await step("get unknown sequence", () => host.getSequence("00000000-0000-4000-8000-000000000000"));
    await step("put sequence", () => raw("put", `sequence/${seqA.id}`, fs.readFileSync(packagePath),
        { "content-type": "application/octet-stream" }));
    const inst = await step("start", () => seqA.start({ greeting: "hi" }, [1]));
    await pause(1500); // let the runner report in, so health has something to say
    await step("list instances", () => host.listInstances());
    await step("instance info", () => host.getInstanceInfo(inst.id));
    await step("instance health", () => inst.getHealth());
    await step("sequence instances", () => seqA.listInstances());
    await streamStep("output stream", () => inst.getStream("output"));
    await streamStep("stdout stream", () => inst.getStream("stdout"));
    await step("send input", () => raw("post", `instance/${inst.id}/input`, "hello\n",
        { "content-type": "text/plain" }));
    await step("send event", () => inst.sendEvent("ping", "hi"));
    await step("delete sequence in use", () => host.deleteSequence(seqA.id));
    await step("stop with object body", () => raw("post", `instance/${inst.id}/_stop`,
        JSON.stringify({ timeout: 0, canCallKeepalive: false }), { "content-type": "application/json" }));
    await step("stop", () => inst.stop(500, false));
    current = "wait";
    await gone(inst);
    const second = await step("start again", () => seqB.start({}, []));
    await pause(1500);
    // Both at once; the GET goes as soon as the first is answered (the hook labels it).
    await step("kill twice at once", () => Promise.all([
        second.kill().then(() => host.getInstanceInfo(second.id)),
        second.kill(),
    ]));
    current = "wait";
    await gone(second);
    await step("unknown instance", () => host.getInstanceInfo("00000000-0000-4000-8000-000000000000"));
    await step("unknown instance health",
        () => InstanceClient.from("00000000-0000-4000-8000-000000000000", host).getHealth());
    await step("delete without content type", () => raw("delete", `sequence/${seqB.id}`));
    await step("delete sequence", () => host.deleteSequence(seqB.id));
    await step("delete sequence", () => host.deleteSequence(seqA.id));
    await step("delete deleted sequence", () => host.deleteSequence(seqA.id));
    await step("unknown sequence instances",
        () => utils.get("sequence/00000000-0000-4000-8000-000000000000/instances"));
    await step("unknown route", () => utils.get("no-such-route"));
    // Calls made at once answer in any order: within a step, order by method (the sort is stable).
    const order = new Map();
    exchanges.forEach((e) => { if (!order.has(e.step)) order.set(e.step, order.size); });
    exchanges.sort((a, b) => (order.get(a.step) - order.get(b.step)) || a.method.localeCompare(b.method));
    // Dropped stream connections may keep node's loop alive: exit once the answer is written.
    process.stdout.write(JSON.stringify(exchanges.filter((e) => e.step !== "wait"), null, 1), () => process.exit(0));
}

main().catch((error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
});
