-- wrk script shared by every wrk load of bench/run.py.
--  * Requests: plain GETs of the URL's path by default. With WRK_METHOD and
--    WRK_BODY_FILE set, each request is an upload of that file's bytes; the
--    first "@@N@@" in WRK_PATH and in the body is replaced per request by a
--    tag unique in the run (WRK_TAG, thread, counter): every upload makes a new file.
--  * Report: done() prints one line "WRKJSON {...}" with the totals, the
--    error counts and latency percentiles (microseconds) for the harness.
local method = os.getenv("WRK_METHOD")
local body_file = os.getenv("WRK_BODY_FILE")
local path_template = os.getenv("WRK_PATH")
local content_type = os.getenv("WRK_CONTENT_TYPE")
local marker = "@@N@@"

local function split(text)
   local at = text:find(marker, 1, true)
   if not at then return text, nil end
   return text:sub(1, at - 1), text:sub(at + #marker)
end

if method and body_file and body_file ~= "" then
   local file = assert(io.open(body_file, "rb"))
   local body = file:read("*a")
   file:close()
   local body_head, body_tail = split(body)
   local path_head, path_tail = split(path_template or "/")
   local headers = {}
   if content_type and content_type ~= "" then headers["Content-Type"] = content_type end
   local counter = 0
   local run_tag = os.getenv("WRK_TAG") or "run"
   local threads_set_up = 0

   function setup(thread)
      threads_set_up = threads_set_up + 1
      thread:set("thread_tag", run_tag .. "t" .. threads_set_up)
   end

   function request()
      counter = counter + 1
      local tag = (thread_tag or run_tag) .. "n" .. counter
      local path = path_tail and (path_head .. tag .. path_tail) or path_head
      local payload = body_tail and (body_head .. tag .. body_tail) or body_head
      return wrk.format(method, path, headers, payload)
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests": %d, "bytes": %d, "duration_us": %d, "connect": %d, "read": %d, '
      .. '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
      summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.max))
end
