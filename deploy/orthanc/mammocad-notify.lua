-- Tells mammocad that a study is stable (no new instance for Orthanc's StableAge seconds).
--
-- Install: add this file to Orthanc's "LuaScripts" and give the Orthanc process
--   MAMMOCAD_WEBHOOK_URL     e.g. http://127.0.0.1:4000/webhooks/study-stable
--   MAMMOCAD_WEBHOOK_SECRET  the same secret as mammocad's webhook.secret
-- A failed call is only logged: mammocad's QIDO polling finds the study anyway.

local url = os.getenv('MAMMOCAD_WEBHOOK_URL')
local secret = os.getenv('MAMMOCAD_WEBHOOK_SECRET')

function OnStableStudy(studyId, tags, metadata)
  if url == nil or url == '' then
    return
  end
  local body = DumpJson({ StudyInstanceUID = tags['StudyInstanceUID'], OrthancStudyId = studyId }, true)
  local headers = { ['Content-Type'] = 'application/json', ['Authorization'] = 'Bearer ' .. (secret or '') }
  local ok, err = pcall(HttpPost, url, body, headers)
  if not ok then
    print('mammocad-notify: could not notify ' .. url .. ' about study ' .. studyId .. ': ' .. tostring(err))
  end
end
