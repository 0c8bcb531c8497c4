// A Transform Hub sequence: the runner calls it with (input, ...args) and pipes what it yields to the
// instance's output. It never ends on its own, so the instance runs until it is stopped.
"use strict";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

module.exports = async function* helloCounter(_input, start = 0) {
    const greeting = (this && this.appConfig && this.appConfig.greeting) || "count";
    let n = Number(start) || 0;
    for (;;) {
        yield `${greeting} ${n++}\n`;
        await sleep(1000);
    }
};
