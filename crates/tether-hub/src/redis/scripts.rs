//! The Lua scripts a hub runs in Redis: each is one atomic step (Redis runs
//! scripts one at a time), which is what keeps a room's offsets, stream and
//! announcements in one order.

/// Orders one message: the room's epoch (made if Redis lost the room), a
/// retried id answered with its first offset (ids are kept as long as the
/// history, and at least 1,024, as in-process), else `INCR`, `XADD`,
/// `PUBLISH` and the keys' expiry refreshed.
pub(super) const PUBLISH: &str = r#"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
end
if ARGV[4] ~= '' then
  local seen = redis.call('ZSCORE', KEYS[4], ARGV[4])
  if seen then return {epoch, tonumber(seen), 1} end
end
local offset = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '0-' .. offset, 'k', ARGV[2], 'p', ARGV[3])
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[4], offset, ARGV[4])
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -tonumber(ARGV[8]) - 1)
end
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
redis.call('PUBLISH', ARGV[7], epoch .. '\n' .. offset .. '\n' .. ARGV[2] .. '\n' .. ARGV[3])
return {epoch, offset, 0}
"#;

/// The room's position, making its epoch if Redis has none.
pub(super) const POSITION: &str = r#"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch, 'EX', ARGV[2])
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
end
return {epoch, tonumber(redis.call('GET', KEYS[2]) or '0')}
"#;

/// Counts a room's members on every hub: each hub writes its own count
/// with an expiry (Redis's clock) and reads the sum of those not expired,
/// so a hub that died drops out within [`MEMBER_COUNT_TTL`](super::MEMBER_COUNT_TTL).
pub(super) const MEMBERS: &str = r#"
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if ARGV[2] == '0' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. (now_ms + tonumber(ARGV[3])))
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
local total = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local count, expires = string.match(all[i + 1], '(%d+):(%d+)')
  if tonumber(expires) > now_ms then total = total + tonumber(count) else redis.call('HDEL', KEYS[1], all[i]) end
end
return total
"#;
