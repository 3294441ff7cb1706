/**
 * The V8 flags the standalone process runs with: `npm start` passes them on
 * node's command line (package.json's start script must list the same ones:
 * tests/unit/standalone-node-flags.test.ts checks), and the benches start
 * the standalone process with them, so they measure what `npm start` runs.
 * (V8 takes heap sizes only on the command line; NODE_OPTIONS refuses this one.)
 *
 * `--min-semi-space-size=16` (MB): why. The standalone process allocates
 * little between pushes (~210 B per heartbeat: 0.44 MB/s at 10,000
 * connections), and below 1 MB/s V8 shrinks the young generation to its
 * 1 MB minimum (heap.cc, kLowAllocationThroughput). A burst of pushes then
 * collects every ~1 MB, about every 100-150 pushes (11-13 scavenges in a 5 s
 * window at 500/s against `ws`'s 2-3, whose own heartbeat garbage keeps its
 * young generation at 16 MB), and each scavenge pauses the loop: the push
 * p99 is those pauses (docs/benchmarks.md, "the young generation of the
 * standalone process"). Holding the minimum at 16 MB (V8's default maximum
 * on 64-bit) keeps the collections as rare as `ws`'s. Cost: the young
 * generation's pages, up to 2 x 16 MB of RSS once touched (+15-20 MB
 * measured at 10,000 connections), whatever the connection count.
 */
export const STANDALONE_NODE_FLAGS: readonly string[] = ['--min-semi-space-size=16'];
