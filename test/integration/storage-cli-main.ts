// Runs the ferry CLI from source (for storage-cli.test.ts): node -r ./bench/storage-ts-register.js <this> args...
import { main } from '../../src/cli/main';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exitCode = 70;
  },
);
