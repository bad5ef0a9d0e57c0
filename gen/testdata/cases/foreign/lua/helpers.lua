local function ok(...) return {1, 'OK', ...} end
local function err(code, ...) return {0, code, ...} end
