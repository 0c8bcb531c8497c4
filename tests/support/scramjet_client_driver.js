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

const realFetch = utils.fetch;
utils.fetch = async (input, init = {}) => {
    const started = Date.now();
    const response = await realFetch(input, init);
    const text = await response.clone().text();
    exchanges.push({
        step: current,
        method: (init.method || "get").toUpperCase(),
        path: new URL(input.toString()).pathname.replace(/^.*\/api\/v1/, ""),
        status: response.status,
        shape: shape(text),
        ms: Date.now() - started,
        body: text.length <= 300 ? text : text.slice(0, 300),
    });
    return response;
};

async function step(name, action) {
    current = name;
    try {
        return await action();
    } catch (error) {
        return undefined; // the exchange (status, body) is what is compared
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
    await step("delete sequence in use", () => host.deleteSequence(seqA.id));
    await step("stop with object body", () => raw("post", `instance/${inst.id}/_stop`,
        JSON.stringify({ timeout: 0, canCallKeepalive: false }), { "content-type": "application/json" }));
    await step("stop", () => inst.stop(500, false));
    current = "wait";
    await gone(inst);
    const second = await step("start again", () => seqB.start({}, []));
    await pause(1500);
    await step("kill", () => second.kill());
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
    process.stdout.write(JSON.stringify(exchanges.filter((e) => e.step !== "wait"), null, 1));
}

main().catch((error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
});
