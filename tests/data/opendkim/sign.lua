-- miltertest -s sign.lua -D MSG=msg.eml -D SOCK=local:/path.sock [-D OUT=sigs.raw]
-- Used by tests/lab/opendkim.rs to have the real OpenDKIM sign with keys exported by
-- `mailtrust keys export --opendkim`.
-- Plays the MTA for ONE message (LF or CRLF file). For every DKIM-Signature the
-- filter asks to insert, prints one stdout line  DKIM-Signature:<value>  with
-- \ CR LF escaped as \\ \r \n (value = exactly what the milter sent, incl. the
-- leading space). If OUT is set, also writes the fields as they would appear in
-- the signed message (topmost first, LF -> CRLF, each ending CRLF).
local function main()
  local sock = SOCK or error("need -D SOCK=local:/path")
  local f = assert(io.open(MSG or error("need -D MSG=file"), "rb"))
  local raw = f:read("a"); f:close()
  raw = raw:gsub("\r\n", "\n")
  local hdrpart, body = raw:match("^(.-)\n\n(.*)$")
  if not hdrpart then hdrpart, body = raw, "" end

  local function ok(r, what) if r ~= nil then error(what .. ": " .. tostring(r)) end end
  local function expect(conn, code, what)
    local got = mt.getreply(conn)
    if got ~= code then error(what .. ": unexpected reply " .. tostring(got)) end
  end

  local conn = mt.connect(sock, 40, 0.25)          -- retries up to 10 s
  if conn == nil then error("connect " .. sock .. " failed") end
  -- InternalHosts matches the IP given here -> sign mode
  ok(mt.conninfo(conn, "localhost", CLIENTIP or "127.0.0.1"), "conninfo"); expect(conn, SMFIR_CONTINUE, "conninfo")
  -- opendkim negotiates SMFIP_NOHELO; calling mt.helo() then is an error
  if not mt.test_option(conn, SMFIP_NOHELO) then
    ok(mt.helo(conn, "localhost"), "helo"); expect(conn, SMFIR_CONTINUE, "helo")
  end
  mt.macro(conn, SMFIC_MAIL, "i", "TESTQID")        -- queue id, used as job id
  ok(mt.mailfrom(conn, "<" .. (ENVFROM or "user@example.test") .. ">"), "mailfrom"); expect(conn, SMFIR_CONTINUE, "mailfrom")
  ok(mt.rcptto(conn, "<" .. (ENVRCPT or "rcpt@example.org") .. ">"), "rcptto"); expect(conn, SMFIR_CONTINUE, "rcptto")

  -- opendkim negotiates SMFIP_HDR_LEADSPC and miltertest then itself prepends ONE
  -- space to every value it sends, so strip one space after the colon here
  -- (a "Name:value" header without space reaches the filter as "Name: value").
  -- Continuation lines are joined with CRLF.
  local hdrs = {}
  for line in (hdrpart .. "\n"):gmatch("(.-)\n") do
    if line:match("^[ \t]") and #hdrs > 0 then
      hdrs[#hdrs].value = hdrs[#hdrs].value .. "\r\n" .. line
    else
      local n, v = line:match("^([^:]+): ?(.*)$")
      if not n then error("bad header line: " .. line) end
      hdrs[#hdrs + 1] = { name = n, value = v }
    end
  end
  for _, h in ipairs(hdrs) do
    ok(mt.header(conn, h.name, h.value), "header " .. h.name); expect(conn, SMFIR_CONTINUE, "header " .. h.name)
  end
  ok(mt.eoh(conn), "eoh")
  local e = mt.getreply(conn)
  if e == SMFIR_ACCEPT then error("filter accepted at EOH without signing: From domain not in SigningTable, or client IP not in InternalHosts") end
  if e == SMFIR_TEMPFAIL then error("tempfail at EOH: key could not be loaded (missing file, or RequireSafeKeys yes and unsafe path/perms)") end
  if e ~= SMFIR_CONTINUE then error("eoh: unexpected reply " .. tostring(e)) end
  body = body:gsub("\n", "\r\n")                    -- SMTP body is CRLF
  if #body > 0 then
    ok(mt.bodystring(conn, body), "body"); expect(conn, SMFIR_CONTINUE, "body")
  end
  ok(mt.eom(conn), "eom")
  local r = mt.getreply(conn)
  if r == SMFIR_REPLYCODE then error("eom: filter set an SMTP reply (typically '451 4.7.0 resource unavailable' = key type does not match SignatureAlgorithm, or unreadable key)") end
  if r ~= SMFIR_ACCEPT and r ~= SMFIR_CONTINUE then error("eom: unexpected reply " .. tostring(r)) end

  local out = OUT and assert(io.open(OUT, "wb"))
  local n = 0
  while true do
    local v = mt.getheader(conn, "DKIM-Signature", n)   -- 0-based; 0 = last inserted = topmost
    if v == nil then break end
    mt.echo("DKIM-Signature:" .. v:gsub("\\", "\\\\"):gsub("\r", "\\r"):gsub("\n", "\\n"))
    if out then out:write("DKIM-Signature:", (v:gsub("\r?\n", "\r\n")), "\r\n") end
    n = n + 1
  end
  if out then out:close() end
  if n == 0 then error("no DKIM-Signature inserted (not signed: check InternalHosts/SigningTable/From)") end
  mt.disconnect(conn)
end

-- miltertest exits 1 WITHOUT printing anything on an uncaught Lua error; report it ourselves
local okk, err = pcall(main)
if not okk then io.stderr:write("sign.lua: ", tostring(err), "\n"); os.exit(2) end
