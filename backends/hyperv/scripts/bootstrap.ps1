$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$hyperctlRequest = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String([Console]::In.ReadToEnd().Trim())) | ConvertFrom-Json
try {
  $hyperctlResult = & ([ScriptBlock]::Create($hyperctlRequest.script)) $hyperctlRequest.data
  $hyperctlDoc = @{ ok = $true; result = $hyperctlResult }
} catch {
  $hyperctlDoc = @{ ok = $false; error = @{
    message = $_.Exception.Message
    category = [string]$_.CategoryInfo.Category
    id = [string]$_.FullyQualifiedErrorId
    type = $_.Exception.GetType().FullName } }
}
$hyperctlJson = ConvertTo-Json -InputObject $hyperctlDoc -Depth 8 -Compress
[Console]::Out.WriteLine('#hyperctl-result-begin')
[Console]::Out.WriteLine([Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($hyperctlJson)))
[Console]::Out.WriteLine('#hyperctl-result-end')
