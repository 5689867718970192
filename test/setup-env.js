// @ts-check
// Jest runs ferry's code in-process: silence the AWS SDK's Node 20 support notice here as
// bin/ferry.js does, so test output shows only what the tests say.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
