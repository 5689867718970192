/** Off the dev stack, with no region setting, the S3 client takes the region of the AWS profile, as the AWS CLI does. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/config';
import { createS3Client } from '../../src/storage/s3-client';

const saved = { AWS_CONFIG_FILE: process.env.AWS_CONFIG_FILE, AWS_PROFILE: process.env.AWS_PROFILE, AWS_REGION: process.env.AWS_REGION };
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-region-'));
  fs.writeFileSync(path.join(dir, 'config'), '[default]\nregion = us-west-1\n\n[profile night]\nregion = eu-central-2\n');
});

afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

it("uses AWS_PROFILE's region from the AWS config file, and a region setting over it", async () => {
  process.env.AWS_CONFIG_FILE = path.join(dir, 'config');
  process.env.AWS_PROFILE = 'night';
  delete process.env.AWS_REGION;
  const env = { HOME: dir, FERRY_S3_ENDPOINT: 'aws', AWS_PROFILE: 'night', AWS_CONFIG_FILE: path.join(dir, 'config') };
  const fromProfile = loadConfig(env);
  expect(fromProfile.s3.region).toBeUndefined();
  expect(await createS3Client(fromProfile).config.region()).toBe('eu-central-2');
  const explicit = loadConfig({ ...env, FERRY_S3_REGION: 'ap-south-1' });
  expect(await createS3Client(explicit).config.region()).toBe('ap-south-1');
});
