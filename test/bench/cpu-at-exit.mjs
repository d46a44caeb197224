// Preloaded into a bench run of the bundle (NODE_OPTIONS=--import=<this file>): at exit, writes the process's CPU
// time (user + system, every thread) to BENCH_CPU_FILE, so the bench can say how much of a run's wall time was the
// runner's own work. Plain JavaScript, so the bench needs no build step to preload it; it costs the run one tiny
// module load.
import { writeFileSync } from 'node:fs';

const file = process.env.BENCH_CPU_FILE;
if (file) {
  process.on('exit', () => {
    const { user, system } = process.cpuUsage();
    writeFileSync(file, JSON.stringify({ cpuMs: (user + system) / 1000 }));
  });
}
