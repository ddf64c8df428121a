# hyperctl-op: migrate.cleanup
param($d)
# The folder Export-VM wrote for one offline migration (<share>\<VM name>).
if (Test-Path -LiteralPath $d.path) {
  Remove-Item -LiteralPath $d.path -Recurse -Force
}
@{}
