# hyperctl-op: migrate.cleanup
param($d)
# The export folder of one offline migration (hyperctl made it: <share>\hyperctl-<journal id>).
if (Test-Path -LiteralPath $d.path) {
  Remove-Item -LiteralPath $d.path -Recurse -Force
}
@{}
