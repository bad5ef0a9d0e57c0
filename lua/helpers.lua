-- Library-local helpers shared by every function of the flowfabric library.
-- They are plain locals: helpers are not FCALL-able.

-- Success tuple: {1, "OK", ...}. Every payload element is a string.
local function ok(...)
  return {1, 'OK', ...}
end

-- Success that changed nothing because the goal already held: {1, "ALREADY_SATISFIED", ...}.
local function ok_already_satisfied(...)
  return {1, 'ALREADY_SATISFIED', ...}
end

-- Success that found an earlier identical request: {1, "DUPLICATE", ...}.
local function ok_duplicate(...)
  return {1, 'DUPLICATE', ...}
end

-- Error tuple: {0, code, details...}.
local function err(code, ...)
  return {0, code, ...}
end
