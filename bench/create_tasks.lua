-- POST /v1.0/tasks with a unique ExternalTaskId per request across threads.
local threads = {}
local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
end
counter = 0
request = function()
  counter = counter + 1
  local body = '{"Service":"sip:bench@test","Caller":"bench","ExternalTaskId":"t' .. tostring(tid) .. '-' .. counter .. '"}'
  return wrk.format("POST", "/v1.0/tasks", {["api_key"] = "benchkey", ["Content-Type"] = "application/json"}, body)
end
