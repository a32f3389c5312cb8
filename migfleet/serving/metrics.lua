-- GET /metrics on the host's metrics listener: the Prometheus text of every Triton on the host and
-- of Envoy itself, merged into one exposition, each series labelled with the MIG device it comes
-- from. Generated config passes what varies per host as route metadata (see metrics.py), so this
-- script is the same on every host and holds no host data.
--
-- Route metadata under "envoy.filters.http.lua":
--   sources      list of {cluster, path, labels (rendered `k="v",...`), names (label names), up}
--                `up`: true for a Triton, reported as migfleet_instance_up
--   health       {cluster (Envoy's admin), path ("/clusters"), serving (cluster name)};
--                sources with `endpoint` ("127.0.0.1:port") get migfleet_instance_healthy
--   timeout_ms   per upstream call

local HISTOGRAM_SUFFIXES = { ["_bucket"] = true, ["_sum"] = true, ["_count"] = true }

-- Parses one sample line: name, list of {label name, escaped value}, "value [timestamp]".
-- Returns nil for a line that is not a sample (it is dropped and counted).
local function parse_sample(line)
  local name, pos = line:match("^([%a_:][%w_:]*)()")
  if not name then return nil end
  local labels = {}
  if line:sub(pos, pos) == "{" then
    pos = pos + 1
    while true do
      pos = line:match("^%s*()", pos)
      if line:sub(pos, pos) == "}" then pos = pos + 1; break end
      local key, vstart = line:match('^([%a_][%w_]*)%s*=%s*"()', pos)
      if not key then return nil end
      local i = vstart
      while true do
        local ch = line:sub(i, i)
        if ch == "" then return nil end
        if ch == "\\" then i = i + 2 elseif ch == '"' then break else i = i + 1 end
      end
      labels[#labels + 1] = { key, line:sub(vstart, i - 1) }
      pos = line:match("^%s*,?()", i + 1)
    end
  end
  local rest = line:sub(pos):match("^%s+(%S.-)%s*$")
  if not rest then return nil end
  return name, labels, rest
end

local Merged = {}
Merged.__index = Merged

local function new_merged()
  return setmetatable({ families = {}, order = {}, dropped = 0 }, Merged)
end

function Merged:family(name)
  local f = self.families[name]
  if not f then
    f = { samples = {} }
    self.families[name] = f
    self.order[#self.order + 1] = name
  end
  return f
end

function Merged:describe(name, help, kind)
  local f = self:family(name)
  -- The first source to describe a family wins: one HELP and one TYPE line per family.
  if help and not f.help then f.help = help end
  if kind and not f.kind then f.kind = kind end
end

-- Adds one source's exposition. A label the source already uses under one of our names is kept
-- as exported_<name>, as Prometheus does for a target label clash.
function Merged:add(text, source)
  local ours = {}
  for _, n in ipairs(source.names) do ours[n] = true end
  local current -- family named by the last TYPE line: its _bucket/_sum/_count samples belong to it
  for line in text:gmatch("[^\r\n]+") do
    if line:sub(1, 1) == "#" then
      local kind, fname, info = line:match("^#%s+(%u+)%s+([%a_:][%w_:]*)%s*(.-)%s*$")
      if kind == "HELP" then
        self:describe(fname, info, nil)
      elseif kind == "TYPE" then
        self:describe(fname, nil, info)
        current = fname
      end
    else
      local name, labels, rest = parse_sample(line)
      if name then
        local fname = name
        if current and name ~= current and name:sub(1, #current) == current
            and HISTOGRAM_SUFFIXES[name:sub(#current + 1)] then
          fname = current
        end
        local parts = {}
        for _, kv in ipairs(labels) do
          local key = ours[kv[1]] and ("exported_" .. kv[1]) or kv[1]
          parts[#parts + 1] = key .. '="' .. kv[2] .. '"'
        end
        parts[#parts + 1] = source.labels
        local samples = self:family(fname).samples
        samples[#samples + 1] = name .. "{" .. table.concat(parts, ",") .. "} " .. rest
      elseif line:match("%S") then
        self.dropped = self.dropped + 1
      end
    end
  end
end

function Merged:gauge(name, help, labels, value)
  self:describe(name, help, "gauge")
  local samples = self:family(name).samples
  samples[#samples + 1] = name .. "{" .. labels .. "} " .. value
end

function Merged:render()
  local out = {}
  for _, name in ipairs(self.order) do
    local f = self.families[name]
    if f.help then out[#out + 1] = "# HELP " .. name .. " " .. f.help end
    if f.kind then out[#out + 1] = "# TYPE " .. name .. " " .. f.kind end
    for _, s in ipairs(f.samples) do out[#out + 1] = s end
  end
  out[#out + 1] = ""
  return table.concat(out, "\n")
end

local function fetch(handle, cluster, path, timeout_ms)
  local headers, body = handle:httpCall(cluster, {
    [":method"] = "GET", [":path"] = path, [":authority"] = cluster,
    ["accept"] = "text/plain",
  }, "", timeout_ms)
  if headers and headers[":status"] == "200" then return body or "" end
  return nil
end

-- Endpoint health as Envoy's admin /clusters lists it: "cluster::addr:port::health_flags::healthy".
local function endpoint_health(text, cluster)
  local health = {}
  local prefix = cluster .. "::"
  for line in text:gmatch("[^\r\n]+") do
    if line:sub(1, #prefix) == prefix then
      local endpoint, flags = line:sub(#prefix + 1):match("^(.-)::health_flags::(.*)$")
      if endpoint then health[endpoint] = (flags == "healthy") end
    end
  end
  return health
end

function envoy_on_request(handle)
  local path = (handle:headers():get(":path") or ""):gsub("%?.*$", "")
  if path ~= "/metrics" then return end
  local method = handle:headers():get(":method")
  if method ~= "GET" then
    handle:respond({ [":status"] = "405", ["allow"] = "GET" }, "only GET\n")
    return
  end
  local meta = handle:metadata()
  local sources = meta:get("sources") or {}
  local health_cfg = meta:get("health")
  local timeout_ms = tonumber(meta:get("timeout_ms")) or 1000
  -- The metadata object is valid only until the first upstream call yields.
  local host_labels = meta:get("host_labels")
  local merged = new_merged()
  for _, source in ipairs(sources) do
    local text = fetch(handle, source.cluster, source.path, timeout_ms)
    if text then merged:add(text, source) end
    if source.up then
      merged:gauge("migfleet_instance_up",
        "1 when this MIG instance's Triton answered its metrics request, else 0",
        source.labels, text and "1" or "0")
    end
  end
  if health_cfg then
    local text = fetch(handle, health_cfg.cluster, health_cfg.path, timeout_ms)
    if text then
      local health = endpoint_health(text, health_cfg.serving)
      for _, source in ipairs(sources) do
        if source.endpoint then
          merged:gauge("migfleet_instance_healthy",
            "1 when Envoy's health checks pass for this MIG instance's Triton, else 0",
            source.labels, health[source.endpoint] and "1" or "0")
        end
      end
    end
  end
  merged:gauge("migfleet_metrics_dropped_lines",
    "Lines of the sources' expositions that were not samples and were left out",
    host_labels, tostring(merged.dropped))
  handle:respond({ [":status"] = "200", ["content-type"] = "text/plain; version=0.0.4; charset=utf-8" },
    merged:render())
end
