// Upload a file with tus-js-client, printing one JSON line per event, for
// tests/e2e/test_tus_clients.py. Usage: node upload.js '<json options>' with
// {endpoint, file, chunkSize?, uploadUrl?, overridePatchMethod?, uploadDataDuringCreation?}.
'use strict';
const fs = require('fs');
const tus = require('tus-js-client');

const options = JSON.parse(process.argv[2]);
const say = (event) => process.stdout.write(JSON.stringify(event) + '\n');
let downloadLink = null;

const upload = new tus.Upload(fs.readFileSync(options.file), {
  endpoint: options.endpoint,
  uploadUrl: options.uploadUrl || null,
  chunkSize: options.chunkSize || Infinity,  // none: the whole file in one PATCH
  overridePatchMethod: Boolean(options.overridePatchMethod),
  uploadDataDuringCreation: Boolean(options.uploadDataDuringCreation),
  retryDelays: [0, 200, 500, 1000],
  metadata: { filename: 'from-node.bin', filetype: 'application/octet-stream' },
  onBeforeRequest(req) {
    say({ event: 'request', method: req.getMethod(), offset: req.getHeader('Upload-Offset') || null });
  },
  onAfterResponse(req, res) {
    downloadLink = res.getHeader('Upload-Download-Link') || downloadLink;
  },
  onChunkComplete(chunkSize, accepted) {
    say({ event: 'chunk', url: upload.url, offset: accepted });
  },
  onSuccess() {
    say({ event: 'done', url: upload.url, download: downloadLink });
  },
  onError(error) {
    say({ event: 'error', message: String(error) });
    process.exitCode = 1;
  },
});
upload.start();
