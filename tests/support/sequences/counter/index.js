// A minimal Transform Hub sequence for tests: the runner calls this with (input, ...args) and pipes
// what it yields to the instance's output. It never ends on its own, so the instance stays running
// (and healthy) until it is stopped or killed.
"use strict";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

module.exports = async function* counter(_input, start = 0) {
    let n = Number(start) || 0;
    for (;;) {
        yield `${n++}\n`;
        await sleep(1000);
    }
};
