"""The Lua scripts: each is one round trip and atomic on the server.

Key layout of a namespace ``NS`` (prefix ``P = "modelbus:{NS}:"``, see ``key_prefix``):

- ``P v:KEY`` — a hash: ``v`` the value (the converter's JSON bytes, as handed over by
  the pipeline) and, for a value with a TTL, ``e`` its expiry time in seconds of the
  cache's clock (wall-clock time by default);
- ``P kt:KEY`` — the set of KEY's tags (only for tagged values);
- ``P t:TAG`` — the set of KEYs tagged TAG;
- ``P stats`` — the shared counters (hash: hits, misses, sets, errors);
- ``P lock:KEY`` — a single-flight lock (token, with a TTL); pub/sub channel ``P done:KEY``;
- ``P rl:NAME`` — a rate limiter's buckets (hash: r, t, at);
- ``P b:KEY`` — a cost budget's ledger entry (hash: s spent, r reserved; integer
  nano-dollars), see ``modelbus._limits.budget_ledger``.

Expiry: a value is live while ``e > now``, ``now`` being the caller's clock, checked on
every read (so all processes agree to the second, and tests move a fake clock). The Redis
TTL of the keys is the value's TTL plus ``GC_SLACK_S`` and only collects garbage.

A tag set may keep a KEY whose value expired or was re-set without that tag; such
members are skipped on invalidation by checking ``kt:KEY`` (so a stale member never
deletes a newer value) and are cleaned when KEY is next set or deleted.
"""

from __future__ import annotations

__all__ = [
    "ACQUIRE",
    "BUDGET_RESERVE",
    "BUDGET_SETTLE",
    "CLEAR_BATCH",
    "DELETE",
    "GC_SLACK_S",
    "INVALIDATE",
    "PEEK",
    "RATE_LIMIT",
    "RELEASE",
    "SET",
    "STATS_BATCH",
]

GC_SLACK_S = 60.0

_HELPERS = """
local function untag(prefix, key, ktkey)
  for _, tag in ipairs(redis.call('SMEMBERS', ktkey)) do
    redis.call('SREM', prefix .. 't:' .. tag, key)
  end
  redis.call('DEL', ktkey)
end
-- The value of hash vkey if it is live at now, else false. A key of another type
-- (written by something else) counts as absent.
local function live(vkey, now)
  if redis.call('TYPE', vkey).ok ~= 'hash' then return false end
  local r = redis.call('HMGET', vkey, 'v', 'e')
  if r[1] and (not r[2] or tonumber(r[2]) > now) then return r[1] end
  return false
end
"""

# KEYS: v:KEY, kt:KEY, stats. ARGV: prefix, KEY, value, expires_at ('' : never),
# gc_ttl_ms (0: none), tags...
SET = (
    _HELPERS
    + """
local prefix, key, px = ARGV[1], ARGV[2], tonumber(ARGV[5])
untag(prefix, key, KEYS[2])
redis.call('DEL', KEYS[1])
if ARGV[4] == '' then
  redis.call('HSET', KEYS[1], 'v', ARGV[3])
else
  redis.call('HSET', KEYS[1], 'v', ARGV[3], 'e', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], px)
end
for i = 6, #ARGV do
  local tkey = prefix .. 't:' .. ARGV[i]
  local cur = redis.call('PTTL', tkey)
  redis.call('SADD', tkey, key)
  redis.call('SADD', KEYS[2], ARGV[i])
  -- A tag set lives as long as its longest-lived member, and forever with a member
  -- that never expires.
  if px > 0 then
    if cur == -2 or (cur >= 0 and cur < px) then redis.call('PEXPIRE', tkey, px) end
  elseif cur ~= -1 then
    redis.call('PERSIST', tkey)
  end
end
if #ARGV >= 6 and px > 0 then redis.call('PEXPIRE', KEYS[2], px) end
redis.call('HINCRBY', KEYS[3], 'sets', 1)
return 1
"""
)

# KEYS: v:KEY, kt:KEY. ARGV: prefix, KEY, now. Returns 1 if a live value was removed.
DELETE = (
    _HELPERS
    + """
local was = live(KEYS[1], tonumber(ARGV[3]))
untag(ARGV[1], ARGV[2], KEYS[2])
redis.call('UNLINK', KEYS[1])
return was and 1 or 0
"""
)

# KEYS: t:TAG... ARGV: prefix, now, TAG... (same order as KEYS). Returns how many live
# values it removed (expired ones go too, uncounted).
INVALIDATE = (
    _HELPERS
    + """
local prefix, now = ARGV[1], tonumber(ARGV[2])
local removed, seen = 0, {}
for i, tkey in ipairs(KEYS) do
  local tag = ARGV[i + 2]
  for _, key in ipairs(redis.call('SMEMBERS', tkey)) do
    if not seen[key] then
      local ktkey = prefix .. 'kt:' .. key
      if redis.call('SISMEMBER', ktkey, tag) == 1 then
        seen[key] = true
        local vkey = prefix .. 'v:' .. key
        if live(vkey, now) then removed = removed + 1 end
        redis.call('UNLINK', vkey)
        untag(prefix, key, ktkey)
      end
    end
  end
  redis.call('DEL', tkey)
end
return removed
"""
)

# KEYS: v:KEY... ARGV: now. Unlinks them; returns how many were live.
CLEAR_BATCH = (
    _HELPERS
    + """
local now, n = tonumber(ARGV[1]), 0
for _, vkey in ipairs(KEYS) do
  if live(vkey, now) then n = n + 1 end
  redis.call('UNLINK', vkey)
end
return n
"""
)

# KEYS: v:KEY... ARGV: now. Returns {live values, their bytes}.
STATS_BATCH = (
    _HELPERS
    + """
local now, n, size = tonumber(ARGV[1]), 0, 0
for _, vkey in ipairs(KEYS) do
  local v = live(vkey, now)
  if v then n = n + 1; size = size + #v end
end
return {n, size}
"""
)

# KEYS: v:KEY, lock:KEY. ARGV: token, ttl_ms, now. 1: the lock is ours; 0: another
# caller holds it, or a live value is already there (stored since the caller's miss: the
# caller then reads it through wait_for instead of calling the provider again).
ACQUIRE = (
    _HELPERS
    + """
if live(KEYS[1], tonumber(ARGV[3])) then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
)

# KEYS: v:KEY, lock:KEY. ARGV: now. Returns {live value or nil, lock holder or nil}.
PEEK = (
    _HELPERS
    + """
return {live(KEYS[1], tonumber(ARGV[1])), redis.call('GET', KEYS[2])}
"""
)

# KEYS: lock:KEY. ARGV: token, channel. Deletes the lock only if it still holds our
# token (a lock that expired and was taken by another process is not ours to delete),
# then tells waiters to look at the value.
RELEASE = """
local ours = redis.call('GET', KEYS[1]) == ARGV[1]
if ours then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[2], '1')
return ours and 1 or 0
"""

# A token bucket per rate-limit key, the same arithmetic as the core ``local`` limiter,
# on Redis's clock (TIME) so every process agrees on "now".
# KEYS: rl:NAME. ARGV: rpm (0: none), tpm (0: none), tokens.
# Returns the wait in microseconds (an integer: Lua numbers reach Redis as integers).
RATE_LIMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rpm, tpm, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'r', 't', 'at')
local r = tonumber(s[1]) or rpm
local k = tonumber(s[2]) or tpm
local at = tonumber(s[3]) or now
local elapsed = math.max(0, now - at)
if now > at then at = now end
local per_us = 60000000
local wait = 0
if rpm > 0 then
  r = math.min(rpm, r + elapsed * rpm / per_us) - 1
  if r < 0 then wait = math.max(wait, -r * per_us / rpm) end
end
if tpm > 0 then
  k = math.min(tpm, k + elapsed * tpm / per_us) - tokens
  if k < 0 then wait = math.max(wait, -k * per_us / tpm) end
end
redis.call('HSET', KEYS[1], 'r', string.format('%.17g', r), 't', string.format('%.17g', k),
           'at', string.format('%d', at))
-- An idle bucket is full again after a minute plus its debt: then it can go.
redis.call('PEXPIRE', KEYS[1], math.ceil((per_us + wait) / 1000) + 1000)
return math.ceil(wait)
"""

# Cost budgets (``modelbus._limits.budget_ledger``): all-or-nothing reservation over several keys.
# KEYS: b:KEY... ARGV: amount, then per key its limit and its period's end in epoch
# seconds ('' : none). Amounts are integer nano-dollars (exact in Lua's doubles up to
# 2**53); '%d' keeps large ones out of exponent notation, which HINCRBY would refuse.
# Returns {0} when reserved, else {i, spent, reserved} of the first key without room.
# A key whose period ended expires a day later (GC only), if that is still ahead of
# Redis's clock; a key of another type makes the script fail (the call is refused).
BUDGET_RESERVE = """
local amount = tonumber(ARGV[1])
local now = tonumber(redis.call('TIME')[1])
for i, k in ipairs(KEYS) do
  local r = redis.call('HMGET', k, 's', 'r')
  local spent, held = tonumber(r[1]) or 0, tonumber(r[2]) or 0
  if spent + held + amount > tonumber(ARGV[2 * i]) then return {i, spent, held} end
end
for i, k in ipairs(KEYS) do
  redis.call('HINCRBY', k, 'r', string.format('%d', amount))
  local ends = ARGV[2 * i + 1]
  if ends ~= '' and tonumber(ends) + 86400 > now then
    redis.call('EXPIREAT', k, string.format('%d', math.ceil(tonumber(ends) + 86400)))
  end
end
return {0}
"""

# KEYS: b:KEY... ARGV: reserved, cost. Releases the reservation (never below zero) and
# adds the cost to what was spent.
BUDGET_SETTLE = """
local reserved, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
for _, k in ipairs(KEYS) do
  local held = tonumber(redis.call('HGET', k, 'r')) or 0
  local take = math.min(held, reserved)
  if take > 0 then redis.call('HINCRBY', k, 'r', string.format('%d', -take)) end
  if cost > 0 then redis.call('HINCRBY', k, 's', string.format('%d', cost)) end
end
return 0
"""
