local function ok(...) return {1, 'OK', ...} end
local function ok_duplicate(...) return {1, 'DUPLICATE', ...} end
local function err(code, ...) return {0, code, ...} end
